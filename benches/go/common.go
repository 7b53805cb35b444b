// Helpers every Go peer shares; built together with each peer
// (`go build -o BIN PEER.go common.go`, as benches/src/lib.rs does). Each
// peer is its own `main`, so this folder is not one package: build the
// files in pairs, never `go build .`.
package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"syscall"
)

// cpuNs is the process CPU time (user + sys) so far, in ns.
func cpuNs() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano() + ru.Stime.Nano())
}

// report prints one BENCH line (benches/src/protocol.rs) for impl "go";
// better is "lower" or "higher".
func report(bench, size, unit, better string, samples []float64) {
	s := append([]float64(nil), samples...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	b, _ := json.Marshal(map[string]interface{}{
		"bench": bench, "size": size, "unit": unit, "better": better,
		"impl": "go", "median": med, "samples": samples,
	})
	fmt.Printf("BENCH %s\n", b)
}

// medianOf is the median of xs (mean of the middle two for even lengths).
func medianOf(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}
