// Go peer for benches/src/bin/chan.rs: prints BENCH lines in the same
// protocol. Usage: chan chan_pingpong N SAMPLES
//
//	chan chan_throughput N SAMPLES PRODUCERS CONSUMERS
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

func pingpong(n int) float64 {
	ping, pong := make(chan uint64), make(chan uint64)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	t := time.Now()
	for i := 0; i < n; i++ {
		ping <- uint64(i)
		<-pong
	}
	ns := float64(time.Since(t).Nanoseconds()) / float64(n)
	close(ping)
	return ns
}

func throughput(n, p, c int) float64 {
	ch := make(chan uint64, 1024)
	t := time.Now()
	var cw, pw sync.WaitGroup
	cw.Add(c)
	for i := 0; i < c; i++ {
		go func() {
			var sum uint64
			for v := range ch {
				sum += v
			}
			_ = sum
			cw.Done()
		}()
	}
	pw.Add(p)
	for i := 0; i < p; i++ {
		go func() {
			for j := 0; j < n/p; j++ {
				ch <- uint64(j)
			}
			pw.Done()
		}()
	}
	pw.Wait()
	close(ch)
	cw.Wait()
	return float64(n) / time.Since(t).Seconds()
}

func main() {
	bench := os.Args[1]
	n, _ := strconv.Atoi(os.Args[2])
	samples, _ := strconv.Atoi(os.Args[3])
	switch bench {
	case "chan_pingpong":
		pingpong(n)
		var s, cpu []float64
		for i := 0; i < samples; i++ {
			c := cpuNs()
			s = append(s, pingpong(n))
			cpu = append(cpu, (cpuNs()-c)/float64(n))
		}
		size := fmt.Sprintf("%d round trips", n)
		report(bench, size, "ns/round trip", "lower", s)
		report("chan_pingpong_cpu", size, "CPU ns/round trip", "lower", cpu)
	case "chan_throughput":
		p, _ := strconv.Atoi(os.Args[4])
		c, _ := strconv.Atoi(os.Args[5])
		throughput(n, p, c)
		var s []float64
		for i := 0; i < samples; i++ {
			s = append(s, throughput(n, p, c))
		}
		name := fmt.Sprintf("chan_throughput_%dto%d", p, c)
		report(name, fmt.Sprintf("%d msgs, cap 1024, %d->%d", n, p, c), "msgs/s", "higher", s)
	default:
		fmt.Fprintf(os.Stderr, "unknown bench %s\n", bench)
		os.Exit(2)
	}
}
