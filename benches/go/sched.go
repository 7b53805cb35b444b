// Go peer for benches/src/bin/sched/: prints BENCH lines in the same
// protocol. Usage: sched BENCH N SAMPLES.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

//go:noinline
func deep(d int) uint64 {
	var buf [1024]byte
	buf[7] = byte(d)
	if d == 0 {
		return uint64(buf[7])
	}
	return deep(d-1) + uint64(buf[1000])
}

func spawnJoin(n int, work func() uint64) float64 {
	t := time.Now()
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() { work(); wg.Done() }()
	}
	wg.Wait()
	return float64(time.Since(t).Nanoseconds()) / float64(n)
}

func skynet(c chan uint64, num, size uint64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan uint64)
	var sum uint64
	sub := size / 10
	for i := uint64(0); i < 10; i++ {
		go skynet(rc, num+i*sub, sub)
	}
	for i := 0; i < 10; i++ {
		sum += <-rc
	}
	c <- sum
}

// rss reads the resident set size from /proc/self/statm, as the Rust side.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, res uint64
	fmt.Sscan(string(b), &size, &res)
	return res * uint64(os.Getpagesize())
}

func main() {
	bench := os.Args[1]
	n, _ := strconv.Atoi(os.Args[2])
	samples, _ := strconv.Atoi(os.Args[3])
	var out []float64
	for s := 0; s <= samples; s++ {
		var v float64
		switch bench {
		case "spawn_join_1m":
			v = spawnJoin(n, func() uint64 { return 1 })
		case "deepstack_32k":
			v = spawnJoin(n, func() uint64 { return deep(32) })
		case "skynet_1m":
			t := time.Now()
			c := make(chan uint64)
			go skynet(c, 0, uint64(n))
			<-c
			v = float64(time.Since(t).Microseconds()) / 1e3
		case "yield_chain":
			t := time.Now()
			var wg sync.WaitGroup
			wg.Add(1000)
			for i := 0; i < 1000; i++ {
				go func() {
					for k := 0; k < n; k++ {
						runtime.Gosched()
					}
					wg.Done()
				}()
			}
			wg.Wait()
			v = float64(time.Since(t).Nanoseconds()) / float64(1000*n)
		case "blocking_call":
			t := time.Now()
			for i := 0; i < n; i++ {
				syscall.Syscall(syscall.SYS_GETPPID, 0, 0, 0)
			}
			v = float64(time.Since(t).Nanoseconds()) / float64(n)
		case "blocking_handoff_latency":
			runtime.GOMAXPROCS(1)
			lat := make([]float64, 0, n)
			for i := 0; i < n; i++ {
				t0 := time.Now()
				done := make(chan time.Duration, 1)
				go func() { done <- time.Since(t0) }()
				ts := syscall.NsecToTimespec(int64(2 * time.Millisecond))
				syscall.Nanosleep(&ts, nil)
				lat = append(lat, float64((<-done).Nanoseconds())/1e3)
			}
			v = medianOf(lat)
		case "blocking_handoff_fs":
			// 64 goroutines, each reading the file n times.
			path := os.Args[4]
			t := time.Now()
			var wg sync.WaitGroup
			wg.Add(64)
			for i := 0; i < 64; i++ {
				go func() {
					for k := 0; k < n; k++ {
						if _, err := os.ReadFile(path); err != nil {
							panic(err)
						}
					}
					wg.Done()
				}()
			}
			wg.Wait()
			v = float64(64*n) / time.Since(t).Seconds() / 1e3
		case "blocking_handoff_mix":
			// 32 pairs, each round a getppid and a channel round trip.
			t := time.Now()
			var wg sync.WaitGroup
			wg.Add(64)
			for i := 0; i < 32; i++ {
				a, b := make(chan uint64), make(chan uint64)
				go func() {
					for k := 0; k < n; k++ {
						syscall.Syscall(syscall.SYS_GETPPID, 0, 0, 0)
						a <- uint64(k)
						<-b
					}
					wg.Done()
				}()
				go func() {
					for k := 0; k < n; k++ {
						syscall.Syscall(syscall.SYS_GETPPID, 0, 0, 0)
						b <- <-a
					}
					wg.Done()
				}()
			}
			wg.Wait()
			v = float64(64*n) / time.Since(t).Seconds() / 1e3
		case "parked_1m", "parked_1m_rss", "parked_1m_rss_idle":
			before := rss()
			t := time.Now()
			var parked, done sync.WaitGroup
			release := make(chan struct{})
			parked.Add(n)
			done.Add(n)
			for i := 0; i < n; i++ {
				go func() { parked.Done(); <-release; done.Done() }()
			}
			parked.Wait()
			switch bench {
			case "parked_1m":
				v = float64(time.Since(t).Microseconds()) / 1e3
			case "parked_1m_rss":
				v = float64(rss()-before) / float64(n)
			default:
				// The same idle time as burrow's row; a GC may shrink
				// stacks.
				time.Sleep(8 * time.Second)
				runtime.GC()
				v = float64(rss()-before) / float64(n)
			}
			close(release)
			done.Wait()
		case "parked_memory":
			before := rss()
			var wg sync.WaitGroup
			release := make(chan struct{})
			wg.Add(n)
			for i := 0; i < n; i++ {
				go func() { <-release; wg.Done() }()
			}
			runtime.Gosched()
			v = float64(rss()-before) / float64(n)
			close(release)
			wg.Wait()
		}
		// The first run warms up, except for memory: only a fresh
		// process shows what parked goroutines cost.
		fresh := bench == "parked_memory" || bench == "parked_1m" || bench == "parked_1m_rss" ||
			bench == "parked_1m_rss_idle"
		if s > 0 || fresh {
			out = append(out, v)
			if fresh {
				break
			}
		}
	}
	units := map[string]string{"spawn_join_1m": "ns/goroutine", "deepstack_32k": "ns/goroutine",
		"skynet_1m": "ms", "yield_chain": "ns/yield", "parked_memory": "bytes/goroutine",
		"parked_1m": "ms", "parked_1m_rss": "bytes/goroutine", "parked_1m_rss_idle": "bytes/goroutine",
		"blocking_call": "ns/call", "blocking_handoff_latency": "us",
		"blocking_handoff_fs": "k reads/s", "blocking_handoff_mix": "k rounds/s"}
	sizes := map[string]string{"spawn_join_1m": fmt.Sprintf("%d goroutines", n),
		"deepstack_32k": fmt.Sprintf("%d goroutines", n), "skynet_1m": fmt.Sprintf("%d leaves", n),
		"yield_chain":              fmt.Sprintf("1000 goroutines x %d yields", n),
		"parked_memory":            fmt.Sprintf("%d parked goroutines", n),
		"parked_1m":                fmt.Sprintf("%d goroutines blocked on a channel", n),
		"parked_1m_rss":            fmt.Sprintf("%d goroutines blocked on a channel", n),
		"parked_1m_rss_idle":       fmt.Sprintf("%d goroutines blocked on a channel, after 8 s idle", n),
		"blocking_call":            fmt.Sprintf("%d getppid calls", n),
		"blocking_handoff_latency": fmt.Sprintf("1 P, %d rounds of a 2 ms blocking sleep", n),
		"blocking_handoff_fs":      fmt.Sprintf("64 goroutines x %d reads of 4 KiB", n),
		"blocking_handoff_mix":     fmt.Sprintf("32 pairs x %d rounds of getppid + channel round trip", n)}
	better := "lower"
	if bench == "blocking_handoff_fs" || bench == "blocking_handoff_mix" {
		better = "higher"
	}
	report(bench, sizes[bench], units[bench], better, out)
}
