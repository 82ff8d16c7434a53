package engine

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"da/config"
)

// BenchmarkUploadUnderLoad measures what an uploader waits for while 32 others upload at the
// same time, over a catalog of 130 and 230 tables: each round is 32 concurrent uploads of a
// new 1,000-row CSV through the Publisher (ingest, register, rebuild, profile), and the
// metrics are the median and 90th percentile of their latencies. Run it with a fixed count,
// for example -bench UploadUnderLoad -benchtime 3x.
func BenchmarkUploadUnderLoad(b *testing.B) {
	const clients = 32
	var csv bytes.Buffer
	csv.WriteString("id,label,amount\n")
	for i := range 1000 {
		fmt.Fprintf(&csv, "%d,label-%d,%d.5\n", i, i%37, i)
	}
	for _, n := range []int{130, 230} {
		e, st, dir := testEngine(b, Options{})
		// The catalog is earlier uploads, as on an instance that people feed by hand.
		var tables []fxTable
		for i := range n - clients {
			tables = append(tables, fxTable{name: fmt.Sprintf("t%04d", i), query: rangeQuery(100 + i)})
		}
		writeSource(b, dir, UploadSource, tables)
		mustRebuild(b, e)
		pub := &Publisher{Engine: e, Store: st, DataDir: dir, Profiler: config.ProfilerConfig{}, Log: e.log}
		b.Run(fmt.Sprintf("tables=%d/clients=%d", n, clients), func(b *testing.B) {
			var lat []time.Duration
			var mu sync.Mutex
			for b.Loop() {
				var wg sync.WaitGroup
				for c := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						start := time.Now()
						_, err := pub.Upload(context.Background(), UploadRequest{Name: fmt.Sprintf("up_%02d", c),
							Filename: "data.csv", Body: bytes.NewReader(csv.Bytes()), UploaderEmail: "analyst@example.com"})
						d := time.Since(start)
						if err != nil {
							b.Error(err)
							return
						}
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
					}()
				}
				wg.Wait()
			}
			slices.Sort(lat)
			if len(lat) == 0 {
				return
			}
			b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*9/10].Milliseconds()), "p90-ms")
			b.ReportMetric(float64(len(e.Catalog().Tables)), "tables")
			b.ReportMetric(0, "ns/op")
		})
	}
}
