// Command goclient is the static Go test client of the end-to-end tests
// (built with CGO_ENABLED=0).
//
// Connect mode prints the local address of every connection, one a line:
//
//	goclient [-network tcp|tcp4|tcp6] [-bind IP] [-n N] [-c C] -connect ADDR
//
// Listen mode binds and listens with net.Listen (so ":6000" is "[::]:6000"
// under -network tcp), prints the local address it got, then exits, or with
// -serve accepts one connection, writes "hello\n" to it and exits:
//
//	goclient [-network tcp|tcp4|tcp6] [-serve] -listen ADDR
//
// Failures print the error text and, for a system call error, "errno=NAME"
// on stderr, and exit 1.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

func main() {
	network := flag.String("network", "tcp", "tcp, tcp4 or tcp6")
	connect := flag.String("connect", "", "connect to `ADDR` (host:port)")
	bind := flag.String("bind", "", "bind to `IP` (port 0) before connecting")
	n := flag.Int("n", 1, "connections in all")
	c := flag.Int("c", 1, "connections at a time")
	listen := flag.String("listen", "", "listen on `ADDR` (host:port)")
	serve := flag.Bool("serve", false, "after listening, serve one connection")
	flag.Parse()

	var err error
	switch {
	case *connect != "" && *listen == "":
		err = dialMany(*network, *connect, *bind, *n, *c)
	case *listen != "" && *connect == "":
		err = listenOnce(*network, *listen, *serve)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "goclient:", err)
	var errno unix.Errno
	if errors.As(err, &errno) {
		fmt.Fprintf(os.Stderr, "errno=%s\n", errnoName(errno))
	}
	os.Exit(1)
}

func errnoName(e unix.Errno) string {
	switch e {
	case unix.EACCES:
		return "EACCES"
	case unix.EADDRINUSE:
		return "EADDRINUSE"
	case unix.EADDRNOTAVAIL:
		return "EADDRNOTAVAIL"
	case unix.ECONNREFUSED:
		return "ECONNREFUSED"
	case unix.EPERM:
		return "EPERM"
	case unix.EINVAL:
		return "EINVAL"
	}
	return fmt.Sprintf("%d", int(e))
}

func dialMany(network, addr, bind string, n, c int) error {
	d := net.Dialer{}
	if bind != "" {
		ip := net.ParseIP(bind)
		if ip == nil {
			return fmt.Errorf("-bind %q: not an IP address", bind)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		jobs  = make(chan struct{})
	)
	for range max(c, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				conn, err := d.Dial(network, addr)
				mu.Lock()
				if err != nil {
					if first == nil {
						first = err
					}
				} else {
					fmt.Println(conn.LocalAddr())
				}
				mu.Unlock()
				if err == nil {
					_ = conn.Close()
				}
			}
		}()
	}
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	return first
}

func listenOnce(network, addr string, serve bool) error {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return err
	}
	defer func() { _ = ln.Close() }()
	fmt.Println(ln.Addr())
	if !serve {
		return nil
	}
	conn, err := ln.Accept()
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	_, err = conn.Write([]byte("hello\n"))
	return err
}
