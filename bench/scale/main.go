// scalebench: per-call latency of thinsnapd's snapshots API on a pool that already holds a
// forest of snapshots (bench/scale/run.sh grows it with bench-scale), from one client
// process through containerd's proxy snapshotter. Rounds interleave the operations so that
// all of them see the same machine noise: stat of random existing keys, prepare of a child of
// a random committed snapshot then its removal, prepare + commit then removal of the commit,
// and now and then a full list. With -ref, a second daemon (on a small reference pool) takes
// its turn in every round, so the ratio between the two is free of the machine's drift.
// Prints TSV rows: metric, snapshots, median_us, p90_us (the reference's metrics end in _ref).
// Built offline in GOPATH mode (bench/ctrbench/build.sh OUT bench/scale).
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/defaults"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/pkg/dialer"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/proxy"
	"google.golang.org/grpc"
)

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "scalebench: %s: %v\n", what, err)
	os.Exit(1)
}

type series map[string][]float64 // microseconds

func (s series) timed(op string, fn func() error) {
	start := time.Now()
	if err := fn(); err != nil {
		fail(op, err)
	}
	s[op] = append(s[op], float64(time.Since(start).Nanoseconds())/1e3)
}

func pct(v []float64, p float64) float64 {
	c := append([]float64(nil), v...)
	sort.Float64s(c)
	if len(c) == 0 {
		return 0
	}
	return c[int(p*float64(len(c)-1)+0.5)]
}

type target struct {
	sn        snapshots.Snapshotter
	suffix    string // appended to the metric names of its rows
	all       []string
	committed []string
	r         series
	items     int
}

func dial(ctx context.Context, sock, suffix string) *target {
	conn, err := grpc.Dial(dialer.DialAddress(sock), grpc.WithInsecure(),
		grpc.WithContextDialer(dialer.ContextDialer), grpc.WithBlock(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(defaults.DefaultMaxRecvMsgSize),
			grpc.MaxCallSendMsgSize(defaults.DefaultMaxSendMsgSize)))
	if err != nil {
		fail("dial "+sock, err)
	}
	t := &target{sn: proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), "thinsnap"),
		suffix: suffix, r: series{}}
	err = t.sn.Walk(ctx, func(_ context.Context, i snapshots.Info) error {
		t.all = append(t.all, i.Name)
		if i.Kind == snapshots.KindCommitted {
			t.committed = append(t.committed, i.Name)
		}
		return nil
	})
	if err != nil || len(t.committed) == 0 {
		fail("first list", fmt.Errorf("%v (%d committed)", err, len(t.committed)))
	}
	return t
}

// One round on one daemon: stats, a prepare + remove, a prepare + commit + remove, maybe a list.
func (t *target) round(ctx context.Context, rng *rand.Rand, i, stats int, list bool) {
	sn, r := t.sn, t.r
	for j := 0; j < stats; j++ {
		k := t.all[rng.Intn(len(t.all))]
		r.timed("stat", func() error { _, err := sn.Stat(ctx, k); return err })
	}
	a := fmt.Sprintf("default/scale-bench/a-%d", i)
	c := fmt.Sprintf("default/scale-bench/c-%d", i)
	p := t.committed[rng.Intn(len(t.committed))]
	r.timed("prepare", func() error { _, err := sn.Prepare(ctx, a, p); return err })
	r.timed("remove_active", func() error { return sn.Remove(ctx, a) })
	if _, err := sn.Prepare(ctx, a, t.committed[rng.Intn(len(t.committed))]); err != nil {
		fail("prepare", err)
	}
	r.timed("commit", func() error { return sn.Commit(ctx, c, a) })
	r.timed("remove_committed", func() error { return sn.Remove(ctx, c) })
	if list {
		n := 0
		r.timed("list", func() error {
			return sn.Walk(ctx, func(context.Context, snapshots.Info) error {
				n++
				return nil
			})
		})
		t.items = n
	}
}

func (t *target) print(level int) {
	r := t.r
	for _, op := range []string{"stat", "list", "prepare", "commit", "remove_active",
		"remove_committed"} {
		if len(r[op]) > 0 {
			fmt.Printf("%s%s\t%d\t%.0f\t%.0f\n", op, t.suffix, level, pct(r[op], 0.5),
				pct(r[op], 0.9))
		}
	}
	if t.items > 0 {
		fmt.Printf("list_per_item%s\t%d\t%.3f\t%.3f\n", t.suffix, level,
			pct(r["list"], 0.5)/float64(t.items), pct(r["list"], 0.9)/float64(t.items))
	}
}

func main() {
	sock := flag.String("thinsnap", "", "thinsnapd's socket")
	ref := flag.String("ref", "", "a reference thinsnapd (a small pool), measured in the same rounds")
	rounds := flag.Int("rounds", 60, "rounds (one prepare/remove and one commit each)")
	stats := flag.Int("stats", 16, "stat calls per round")
	lists := flag.Int("lists", 10, "full lists in the run")
	seed := flag.Int64("seed", 1, "random seed")
	flag.Parse()
	ctx := namespaces.WithNamespace(context.Background(), "default")
	targets := []*target{dial(ctx, *sock, "")}
	if *ref != "" {
		targets = append(targets, dial(ctx, *ref, "_ref"))
	}
	rng := rand.New(rand.NewSource(*seed))
	listEvery := *rounds / *lists
	if listEvery < 1 {
		listEvery = 1
	}
	// the daemons take turns, round by round: both see the same machine noise
	for i := 0; i < *rounds; i++ {
		for _, t := range targets {
			t.round(ctx, rng, i, *stats, i%listEvery == 0 && t.suffix == "")
		}
	}
	level := len(targets[0].all)
	for _, t := range targets {
		t.print(level)
	}
}
