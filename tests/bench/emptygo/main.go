// Command emptygo is the bench's empty Go program: what any Go launcher pays
// to start on the machine, the floor under vipa-exec's start-up. The bench
// embeds this file and builds it into its temporary directory.
package main

func main() {}
