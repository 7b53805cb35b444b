// Go peer for benches/src/bin/tcp_echo.rs: the echo server. Usage:
// tcp_echo serve — listens on a loopback port, prints "LISTEN addr", and
// echoes every connection (a goroutine each, as net/http serves) until
// killed. The load generator and the measurements are on the Rust side,
// the same for every server.
package main

import (
	"fmt"
	"net"
	"os"
)

func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 16*1024)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: tcp_echo serve")
		os.Exit(2)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		go echo(c)
	}
}
