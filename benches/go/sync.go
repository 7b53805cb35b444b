// Go peer for benches/src/bin/sync.rs: prints BENCH lines in the same
// protocol. Usage: sync BENCH GOROUTINES K SAMPLES.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// contended: g goroutines each doing k lock+increment+unlock; ns per op.
func contended(g, k int) float64 {
	var mu sync.Mutex
	var counter uint64
	var wg sync.WaitGroup
	wg.Add(g)
	t := time.Now()
	for i := 0; i < g; i++ {
		go func() {
			for j := 0; j < k; j++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	el := time.Since(t)
	if counter != uint64(g*k) {
		panic("lost updates")
	}
	return float64(el.Nanoseconds()) / float64(g*k)
}

func main() {
	bench := os.Args[1]
	g, _ := strconv.Atoi(os.Args[2])
	k, _ := strconv.Atoi(os.Args[3])
	samples, _ := strconv.Atoi(os.Args[4])
	var out []float64
	for s := 0; s <= samples; s++ {
		v := contended(g, k)
		if s > 0 { // the first run warms up
			out = append(out, v)
		}
	}
	report(bench, fmt.Sprintf("%d goroutines x %d ops", g, k), "ns/op", "lower", out)
}
