// Client is the Java test client of the end-to-end tests: it connects to
// HOST PORT once and prints the local address. The JDK opens AF_INET6
// sockets and reaches IPv4 destinations as ::ffff:a.b.c.d, the case that
// IPv4 rules must catch.
//
//	java -cp DIR Client HOST PORT
import java.net.InetSocketAddress;
import java.net.Socket;

public class Client {
    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: Client HOST PORT");
            System.exit(2);
        }
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(args[0], Integer.parseInt(args[1])), 10000);
            System.out.println(s.getLocalAddress().getHostAddress());
        }
    }
}
