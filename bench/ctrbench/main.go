// ctrbench: per-call latency of snapshotters through containerd's snapshots API from one
// client process: thinsnapd directly (containerd's proxy client on its socket), any snapshotter
// behind a containerd daemon (-containerd SOCK -snapshotter NAME), or containerd's devmapper
// snapshotter in this process (-devmapper-pool). Rounds of prepare/commit/view/remove, plus
// optional 16-layer runs (prepare, mount, write 10 x 1 MiB, unmount, commit per layer: the shape
// of containerd's snapshots/benchsuite) and a container start's snapshot steps (-steps). Prints
// median and p90 per operation; -tsv appends every sample as "system<TAB>via<TAB>op<TAB>ms"
// (bench/report.sh aggregates them). Built offline in
// GOPATH mode (bench/ctrbench/build.sh); run as root on dm-thin (bench/run-all.sh, run.sh).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"time"

	leasesapi "github.com/containerd/containerd/api/services/leases/v1"
	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/defaults"
	"github.com/containerd/containerd/leases"
	leasesproxy "github.com/containerd/containerd/leases/proxy"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/pkg/dialer"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/devmapper"
	"github.com/containerd/containerd/snapshots/proxy"
	"google.golang.org/grpc"
)

var ops = []string{"prepare0", "prepare", "stat", "mounts", "usage", "commit", "view", "list",
	"remove", "cycle", "layer16", "layer16-prepare", "layer16-write", "layer16-commit",
	"layer16-mount", "layer16-unmount", "steps-prepare", "steps-mount", "steps-read",
	"steps-unmount", "steps-remove"}

type result map[string][]time.Duration

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "ctrbench: %s: %v\n", what, err)
	os.Exit(1)
}

func timed(r result, op string, fn func() error) time.Duration {
	start := time.Now()
	if err := fn(); err != nil {
		fail(op, err)
	}
	d := time.Since(start)
	r[op] = append(r[op], d)
	return d
}

// One round: a parentless prepare (removed again; in the first n0 rounds only: containerd's
// devmapper formats each parentless snapshot, seconds in a VM), a container-like active snapshot on a
// committed base, then a layer commit, a view of it, reads, and removal. "cycle" is the
// prepare + commit + remove of the committed layer in one round.
func run(ctx context.Context, sn snapshots.Snapshotter, n, n0 int, prefix string) result {
	r := result{}
	if _, err := sn.Prepare(ctx, prefix+"base-a", ""); err != nil {
		fail("base", err)
	}
	if err := sn.Commit(ctx, prefix+"base", prefix+"base-a"); err != nil {
		fail("base commit", err)
	}
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("%sp-%d", prefix, i)
		a := fmt.Sprintf("%sa-%d", prefix, i)
		c := fmt.Sprintf("%sc-%d", prefix, i)
		v := fmt.Sprintf("%sv-%d", prefix, i)
		if i < n0 {
			timed(r, "prepare0", func() error { _, err := sn.Prepare(ctx, p, ""); return err })
			timed(r, "remove", func() error { return sn.Remove(ctx, p) })
		}
		cyc := timed(r, "prepare", func() error { _, err := sn.Prepare(ctx, a, prefix+"base"); return err })
		timed(r, "stat", func() error { _, err := sn.Stat(ctx, a); return err })
		timed(r, "mounts", func() error { _, err := sn.Mounts(ctx, a); return err })
		timed(r, "usage", func() error { _, err := sn.Usage(ctx, a); return err })
		cyc += timed(r, "commit", func() error { return sn.Commit(ctx, c, a) })
		timed(r, "view", func() error { _, err := sn.View(ctx, v, c); return err })
		timed(r, "list", func() error {
			return sn.Walk(ctx, func(context.Context, snapshots.Info) error { return nil })
		})
		timed(r, "remove", func() error { return sn.Remove(ctx, v) })
		cyc += timed(r, "remove", func() error { return sn.Remove(ctx, c) })
		r["cycle"] = append(r["cycle"], cyc)
	}
	_ = sn.Remove(ctx, prefix+"base")
	return r
}

// writeLayer writes ten 1 MiB files of fresh pseudo-random bytes under root.
func writeLayer(root string, buf []byte, rnd *rand.Rand) error {
	for f := 0; f < 10; f++ {
		rnd.Read(buf)
		if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("f%d", f)), buf, 0644); err != nil {
			return err
		}
	}
	return nil
}

// layers: containerd's benchmark shape, 16 layers each prepared on the previous commit,
// mounted, written, unmounted and committed; "layer16" is one whole run, "layer16-write" its
// mounts, writes and unmounts, of which "layer16-mount" and "layer16-unmount" are the mounts
// and the unmounts (an unmount waits for the layer's writeback).
func layers(ctx context.Context, sn snapshots.Snapshotter, runs int, prefix, dir string, r result) {
	buf := make([]byte, 1<<20)
	rnd := rand.New(rand.NewSource(1))
	if err := os.MkdirAll(dir, 0755); err != nil {
		fail("mount dir", err)
	}
	for k := 0; k < runs; k++ {
		var prep, write, commit, mnt, umnt time.Duration
		parent := ""
		var committed []string
		start := time.Now()
		for l := 0; l < 16; l++ {
			key := fmt.Sprintf("%sl%d-%d-a", prefix, k, l)
			name := fmt.Sprintf("%sl%d-%d", prefix, k, l)
			t := time.Now()
			mounts, err := sn.Prepare(ctx, key, parent)
			if err != nil {
				fail("layer prepare", err)
			}
			prep += time.Since(t)
			t = time.Now()
			if err := mount.All(mounts, dir); err != nil {
				fail("layer mount", err)
			}
			mnt += time.Since(t)
			err = writeLayer(dir, buf, rnd)
			tu := time.Now()
			if uerr := mount.UnmountAll(dir, 0); err == nil {
				err = uerr
			}
			if err != nil {
				fail("layer write", err)
			}
			umnt += time.Since(tu)
			write += time.Since(t)
			t = time.Now()
			if err := sn.Commit(ctx, name, key); err != nil {
				fail("layer commit", err)
			}
			commit += time.Since(t)
			parent = name
			committed = append(committed, name)
		}
		r["layer16"] = append(r["layer16"], time.Since(start))
		r["layer16-prepare"] = append(r["layer16-prepare"], prep)
		r["layer16-write"] = append(r["layer16-write"], write)
		r["layer16-commit"] = append(r["layer16-commit"], commit)
		r["layer16-mount"] = append(r["layer16-mount"], mnt)
		r["layer16-unmount"] = append(r["layer16-unmount"], umnt)
		for i := len(committed) - 1; i >= 0; i-- {
			if err := sn.Remove(ctx, committed[i]); err != nil {
				fail("layer remove", err)
			}
		}
	}
}

// steps: a container start's snapshot steps one by one, in this process: an active snapshot
// prepared on parent (an image's top layer), mounted, every file in it read once (as a start
// reads its binary: from the page cache, or through the device if the cache does not hold the
// snapshot's files), unmounted and removed, runs times.
func steps(ctx context.Context, sn snapshots.Snapshotter, runs int, parent, prefix, dir string, r result) {
	if err := os.MkdirAll(dir, 0755); err != nil {
		fail("mount dir", err)
	}
	for k := 0; k < runs; k++ {
		key := fmt.Sprintf("%sstep-%d-%d", prefix, os.Getpid(), k)
		var mounts []mount.Mount
		timed(r, "steps-prepare", func() (err error) { mounts, err = sn.Prepare(ctx, key, parent); return })
		timed(r, "steps-mount", func() error { return mount.All(mounts, dir) })
		timed(r, "steps-read", func() error { return readAll(dir) })
		timed(r, "steps-unmount", func() error { return mount.UnmountAll(dir, 0) })
		timed(r, "steps-remove", func() error { return sn.Remove(ctx, key) })
	}
}

// readAll reads every regular file under root once.
func readAll(root string) error {
	return filepath.Walk(root, func(path string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(io.Discard, f)
		return err
	})
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

func dial(sock string) *grpc.ClientConn {
	conn, err := grpc.Dial(dialer.DialAddress(sock), grpc.WithInsecure(),
		grpc.WithContextDialer(dialer.ContextDialer), grpc.WithBlock(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(defaults.DefaultMaxRecvMsgSize),
			grpc.MaxCallSendMsgSize(defaults.DefaultMaxSendMsgSize)))
	if err != nil {
		fail("dial "+sock, err)
	}
	return conn
}

func writeTSV(path, system, via string, r result) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0644)
	if err != nil {
		fail("tsv", err)
	}
	defer f.Close()
	for _, op := range ops {
		for _, d := range r[op] {
			fmt.Fprintf(f, "%s\t%s\t%s\t%.4f\n", system, via, op, float64(d)/1e6)
		}
	}
}

func main() {
	sock := flag.String("thinsnap", "", "thinsnapd's socket (direct, containerd's proxy client)")
	ctrd := flag.String("containerd", "", "containerd's socket (with -snapshotter)")
	snName := flag.String("snapshotter", "", "snapshotter name behind -containerd")
	system := flag.String("system", "", "system label in the TSV (default: the snapshotter name)")
	pool := flag.String("devmapper-pool", "", "thin pool for containerd's devmapper snapshotter")
	root := flag.String("devmapper-root", "/tmp/ctrbench-devmapper", "devmapper's root_path")
	size := flag.String("base-size", "1GB", "devmapper base_image_size (thinsnapd: its config)")
	n := flag.Int("n", 30, "rounds (0: only the -layers runs)")
	n0 := flag.Int("n0", 10, "rounds with a parentless prepare (at most -n)")
	runs := flag.Int("layers", 0, "16-layer runs (0: none)")
	mdir := flag.String("mountdir", "/tmp/ctrbench-mnt", "where the 16-layer runs mount")
	tsv := flag.String("tsv", "", "append samples to this file")
	nsteps := flag.Int("steps", 0, "container-start snapshot steps on -parent (0: none)")
	parent := flag.String("parent", "", "the committed snapshot the -steps prepare on")
	ns := flag.String("namespace", "ctrbench", "containerd namespace")
	flag.Parse()
	ctx := namespaces.WithNamespace(context.Background(), *ns)
	results := map[string]result{}
	bench := func(ctx context.Context, label, via string, sn snapshots.Snapshotter) {
		// -n 0: the 16-layer runs alone (bench/start-bench.sh interleaves one run at a time)
		r := result{}
		if *n > 0 {
			r = run(ctx, sn, *n, *n0, label+"-")
		}
		if *runs > 0 {
			layers(ctx, sn, *runs, label+"-", filepath.Join(*mdir, label), r)
		}
		if *nsteps > 0 {
			steps(ctx, sn, *nsteps, *parent, label+"-", filepath.Join(*mdir, label+"-steps"), r)
		}
		results[label] = r
		writeTSV(*tsv, label, via, r)
	}
	if *sock != "" {
		label := *system
		if label == "" || *ctrd != "" {
			label = "thinsnap"
		}
		bench(ctx, label, "direct", proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(dial(*sock)), "thinsnap"))
	}
	if *ctrd != "" {
		label := *system
		if label == "" {
			label = *snName
		}
		conn := dial(*ctrd)
		// containerd collects snapshots no lease holds (as ctr, hold one for the run)
		lm := leasesproxy.NewLeaseManager(leasesapi.NewLeasesClient(conn))
		l, err := lm.Create(ctx, leases.WithRandomID())
		if err != nil {
			fail("lease", err)
		}
		bench(leases.WithLease(ctx, l.ID), label, "api",
			proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), *snName))
		_ = lm.Delete(ctx, l, leases.SynchronousDelete)
	}
	if *pool != "" {
		sn, err := devmapper.NewSnapshotter(ctx, &devmapper.Config{RootPath: *root,
			PoolName: *pool, BaseImageSize: *size})
		if err != nil {
			fail("devmapper", err)
		}
		bench(ctx, "devmapper", "in-process", sn)
		sn.Close()
	}
	labels := make([]string, 0, len(results))
	for l := range results {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	fmt.Printf("%-16s", "op (ms)")
	for _, l := range labels {
		fmt.Printf(" %21s", l+" median/p90")
	}
	fmt.Println()
	for _, op := range ops {
		fmt.Printf("%-16s", op)
		for _, l := range labels {
			fmt.Printf(" %s/%s", ms(pct(results[l][op], 0.5)), ms(pct(results[l][op], 0.9)))
		}
		fmt.Println()
	}
}
