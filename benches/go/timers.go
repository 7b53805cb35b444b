// Go peer for benches/src/bin/timers.rs: prints BENCH lines in the same
// protocol. Usage: timers BENCH N SAMPLES.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"
)

func report(bench, size, unit string, samples []float64) {
	s := append([]float64(nil), samples...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	b, _ := json.Marshal(map[string]interface{}{
		"bench": bench, "size": size, "unit": unit, "better": "lower",
		"impl": "go", "median": med, "samples": samples,
	})
	fmt.Printf("BENCH %s\n", b)
}

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
	report(bench, fmt.Sprintf("%d goroutines x sleep 100ms", n), "ms", out)
}
