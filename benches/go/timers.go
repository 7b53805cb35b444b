// Go peer for benches/src/bin/timers.rs: prints BENCH lines in the same
// protocol. Usage: timers BENCH N SAMPLES.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

func sleepers(n int) float64 {
	t := time.Now()
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() { time.Sleep(100 * time.Millisecond); wg.Done() }()
	}
	wg.Wait()
	return float64(time.Since(t).Microseconds()) / 1e3
}

func main() {
	bench := os.Args[1]
	n, _ := strconv.Atoi(os.Args[2])
	samples, _ := strconv.Atoi(os.Args[3])
	var out []float64
	// The first run warms up and is discarded, as on the Rust side.
	for s := 0; s <= samples; s++ {
		v := sleepers(n)
		if s > 0 {
			out = append(out, v)
		}
	}
	report(bench, fmt.Sprintf("%d goroutines x sleep 100ms", n), "ms", "lower", out)
}
