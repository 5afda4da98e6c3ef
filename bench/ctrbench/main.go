// ctrbench: per-call latency of thinsnapd through containerd's own proxy client, side by side
// with containerd's built-in devmapper snapshotter (in this process) on an identical pool.
// Prints median and p90 per operation and the ratio of medians. Built offline in GOPATH mode
// (bench/ctrbench/build.sh); run as root on dm-thin (bench/ctrbench/run.sh sets it all up).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/defaults"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/pkg/dialer"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/devmapper"
	"github.com/containerd/containerd/snapshots/proxy"
	"google.golang.org/grpc"
)

var ops = []string{"prepare", "stat", "mounts", "usage", "commit", "view", "list", "remove"}

type result map[string][]time.Duration

func timed(r result, op string, fn func() error) {
	start := time.Now()
	if err := fn(); err != nil {
		fmt.Fprintf(os.Stderr, "ctrbench: %s: %v\n", op, err)
		os.Exit(1)
	}
	r[op] = append(r[op], time.Since(start))
}

// One round: a container-like active snapshot on a committed base, then a layer commit, a
// view of it, reads, and removal.
func run(ctx context.Context, sn snapshots.Snapshotter, n int, prefix string) result {
	r := result{}
	if _, err := sn.Prepare(ctx, prefix+"base-a", ""); err != nil {
		fmt.Fprintf(os.Stderr, "ctrbench: base: %v\n", err)
		os.Exit(1)
	}
	if err := sn.Commit(ctx, prefix+"base", prefix+"base-a"); err != nil {
		fmt.Fprintf(os.Stderr, "ctrbench: base commit: %v\n", err)
		os.Exit(1)
	}
	for i := 0; i < n; i++ {
		a := fmt.Sprintf("%sa-%d", prefix, i)
		c := fmt.Sprintf("%sc-%d", prefix, i)
		v := fmt.Sprintf("%sv-%d", prefix, i)
		timed(r, "prepare", func() error { _, err := sn.Prepare(ctx, a, prefix+"base"); return err })
		timed(r, "stat", func() error { _, err := sn.Stat(ctx, a); return err })
		timed(r, "mounts", func() error { _, err := sn.Mounts(ctx, a); return err })
		timed(r, "usage", func() error { _, err := sn.Usage(ctx, a); return err })
		timed(r, "commit", func() error { return sn.Commit(ctx, c, a) })
		timed(r, "view", func() error { _, err := sn.View(ctx, v, c); return err })
		timed(r, "list", func() error {
			return sn.Walk(ctx, func(context.Context, snapshots.Info) error { return nil })
		})
		timed(r, "remove", func() error { return sn.Remove(ctx, v) })
		timed(r, "remove", func() error { return sn.Remove(ctx, c) })
	}
	_ = sn.Remove(ctx, prefix+"base")
	return r
}

func pct(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[int(p*float64(len(s)-1)+0.5)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%9.3f", float64(d)/1e6) }

func main() {
	sock := flag.String("thinsnap", "", "thinsnapd's socket")
	pool := flag.String("devmapper-pool", "", "thin pool for containerd's devmapper snapshotter")
	root := flag.String("devmapper-root", "/tmp/ctrbench-devmapper", "devmapper's root_path")
	size := flag.String("base-size", "1GB", "devmapper base_image_size (thinsnapd: its config)")
	n := flag.Int("n", 30, "rounds")
	flag.Parse()
	ctx := namespaces.WithNamespace(context.Background(), "ctrbench")
	results := map[string]result{}
	if *sock != "" {
		conn, err := grpc.Dial(dialer.DialAddress(*sock), grpc.WithInsecure(),
			grpc.WithContextDialer(dialer.ContextDialer), grpc.WithBlock(),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(defaults.DefaultMaxRecvMsgSize),
				grpc.MaxCallSendMsgSize(defaults.DefaultMaxSendMsgSize)))
		if err != nil {
			fmt.Fprintf(os.Stderr, "ctrbench: dial %s: %v\n", *sock, err)
			os.Exit(1)
		}
		sn := proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), "thinsnap")
		results["thinsnap"] = run(ctx, sn, *n, "ts-")
	}
	if *pool != "" {
		sn, err := devmapper.NewSnapshotter(ctx, &devmapper.Config{RootPath: *root,
			PoolName: *pool, BaseImageSize: *size})
		if err != nil {
			fmt.Fprintf(os.Stderr, "ctrbench: devmapper: %v\n", err)
			os.Exit(1)
		}
		results["devmapper"] = run(ctx, sn, *n, "dm-")
		sn.Close()
	}
	fmt.Printf("%-8s %20s %20s %10s\n", "", "thinsnap (ms)", "devmapper (ms)", "")
	fmt.Printf("%-8s %9s %10s %9s %10s %10s\n", "op", "median", "p90", "median", "p90", "speed-up")
	for _, op := range ops {
		t, d := results["thinsnap"][op], results["devmapper"][op]
		ratio := "-"
		if len(t) > 0 && len(d) > 0 && pct(t, 0.5) > 0 {
			ratio = fmt.Sprintf("%9.1fx", float64(pct(d, 0.5))/float64(pct(t, 0.5)))
		}
		fmt.Printf("%-8s %s %s  %s %s %10s\n", op, ms(pct(t, 0.5)), ms(pct(t, 0.9)),
			ms(pct(d, 0.5)), ms(pct(d, 0.9)), ratio)
	}
}
