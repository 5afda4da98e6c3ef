// snapdrive: drives thinsnapd through containerd's generated gRPC client (grpc-go), for the
// concurrency and valgrind tests (t0805, t0806). Two modes:
//
//	-random DURATION  random Prepare/Commit/View/Remove/Stat/Mounts/Usage/Update/List calls on
//	                  keys under -prefix; every commit first mounts the active snapshot and
//	                  writes marker-<name> (holding <name>), so the test can check contents later.
//	                  Expected refusals (NotFound, AlreadyExists, FailedPrecondition) are counted;
//	                  any other code, or a call slower than -call-timeout, fails the run.
//	-remove KEY       one Remove of KEY; prints the outcome's code name, exits 0 only on OK.
//	-all              every method once or more, with the failing requests each answers with a
//	                  known code (bad filter, unknown key, taken name, has children, malformed
//	                  protobuf, unknown method, oversize); exits 1 on any other outcome.
//
// Prints one summary line. Built offline in GOPATH mode (tests/snapdrive/build.sh).
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
	"strings"
	"syscall"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/pkg/dialer"
	ptypes "github.com/gogo/protobuf/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const snapshotter = "thinsnap"

type driver struct {
	c       snapshotsapi.SnapshotsClient
	conn    *grpc.ClientConn
	timeout time.Duration
	calls   map[string]int // method -> calls
	codes   map[string]int // code name -> count (failures only)
	bad     []string       // unexpected outcomes
}

func (d *driver) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d.timeout)
}

// note records one call's outcome; expected lists the codes that count as a refusal.
func (d *driver) note(method string, err error, expected ...codes.Code) codes.Code {
	d.calls[method]++
	if err == nil {
		return codes.OK
	}
	code := status.Code(err)
	d.codes[code.String()]++
	for _, e := range expected {
		if code == e {
			return code
		}
	}
	d.bad = append(d.bad, fmt.Sprintf("%s: %v", method, err))
	return code
}

// want is note for the -all mode: the call must end with exactly code.
func (d *driver) want(what string, err error, code codes.Code) {
	d.calls[what]++
	if got := status.Code(err); got != code {
		d.bad = append(d.bad, fmt.Sprintf("%s: got %v (%v), want %v", what, got, err, code))
	} else if err != nil {
		d.codes[code.String()]++
	}
}

func (d *driver) prepare(key, parent string, view bool) ([]*types.Mount, error) {
	ctx, cancel := d.ctx()
	defer cancel()
	if view {
		r, err := d.c.View(ctx, &snapshotsapi.ViewSnapshotRequest{Snapshotter: snapshotter,
			Key: key, Parent: parent})
		if err != nil {
			return nil, err
		}
		return r.Mounts, nil
	}
	r, err := d.c.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: snapshotter,
		Key: key, Parent: parent, Labels: map[string]string{"snapdrive": "1"}})
	if err != nil {
		return nil, err
	}
	return r.Mounts, nil
}

func (d *driver) commit(name, key string) error {
	ctx, cancel := d.ctx()
	defer cancel()
	_, err := d.c.Commit(ctx, &snapshotsapi.CommitSnapshotRequest{Snapshotter: snapshotter,
		Name: name, Key: key})
	return err
}

func (d *driver) remove(key string) error {
	ctx, cancel := d.ctx()
	defer cancel()
	_, err := d.c.Remove(ctx, &snapshotsapi.RemoveSnapshotRequest{Snapshotter: snapshotter, Key: key})
	return err
}

func (d *driver) stat(key string) (snapshotsapi.Info, error) {
	ctx, cancel := d.ctx()
	defer cancel()
	r, err := d.c.Stat(ctx, &snapshotsapi.StatSnapshotRequest{Snapshotter: snapshotter, Key: key})
	if err != nil {
		return snapshotsapi.Info{}, err
	}
	return r.Info, nil
}

func (d *driver) mounts(key string) error {
	ctx, cancel := d.ctx()
	defer cancel()
	_, err := d.c.Mounts(ctx, &snapshotsapi.MountsRequest{Snapshotter: snapshotter, Key: key})
	return err
}

func (d *driver) usage(key string) error {
	ctx, cancel := d.ctx()
	defer cancel()
	_, err := d.c.Usage(ctx, &snapshotsapi.UsageRequest{Snapshotter: snapshotter, Key: key})
	return err
}

func (d *driver) update(key, label, value string) error {
	ctx, cancel := d.ctx()
	defer cancel()
	_, err := d.c.Update(ctx, &snapshotsapi.UpdateSnapshotRequest{Snapshotter: snapshotter,
		Info:       snapshotsapi.Info{Name: key, Labels: map[string]string{label: value}},
		UpdateMask: &ptypes.FieldMask{Paths: []string{"labels." + label}}})
	return err
}

func (d *driver) cleanup() error {
	ctx, cancel := d.ctx()
	defer cancel()
	_, err := d.c.Cleanup(ctx, &snapshotsapi.CleanupRequest{Snapshotter: snapshotter})
	return err
}

// list returns the names the stream carried.
func (d *driver) list(filters ...string) ([]string, error) {
	ctx, cancel := d.ctx()
	defer cancel()
	s, err := d.c.List(ctx, &snapshotsapi.ListSnapshotsRequest{Snapshotter: snapshotter,
		Filters: filters})
	if err != nil {
		return nil, err
	}
	var names []string
	for {
		r, err := s.Recv()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		for _, i := range r.Info {
			names = append(names, i.Name)
		}
	}
}

// writeMarker mounts an active snapshot's mounts at dir and writes marker-<name> into it.
func writeMarker(ms []*types.Mount, dir, name string) error {
	if len(ms) != 1 {
		return fmt.Errorf("want one mount, got %d", len(ms))
	}
	m := ms[0]
	if err := os.MkdirAll(dir, 0755); err != nil {
		return err
	}
	if err := syscall.Mount(m.Source, dir, m.Type, 0, strings.Join(m.Options, ",")); err != nil {
		return fmt.Errorf("mount %s: %v", m.Source, err)
	}
	werr := os.WriteFile(filepath.Join(dir, "marker-"+name), []byte(name+"\n"), 0644)
	if err := syscall.Unmount(dir, 0); err != nil {
		return fmt.Errorf("umount %s: %v", dir, err)
	}
	return werr
}

var refusals = []codes.Code{codes.NotFound, codes.AlreadyExists, codes.FailedPrecondition}

func pick(r *rand.Rand, s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[r.Intn(len(s))]
}

func drop(s []string, v string) []string {
	for i, x := range s {
		if x == v {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

// random runs random calls for dur on keys under prefix; the daemon is the only writer of them.
func (d *driver) random(dur time.Duration, r *rand.Rand, prefix, mnt string) int {
	var active, committed, views []string
	n := 0
	deadline := time.Now().Add(dur)
	for time.Now().Before(deadline) {
		n++
		key := fmt.Sprintf("%s%d", prefix, n)
		switch op := r.Intn(100); {
		case op < 22: // prepare, on a committed parent or none
			parent := ""
			if r.Intn(3) > 0 {
				parent = pick(r, committed)
			}
			_, err := d.prepare(key, parent, false)
			if d.note("prepare", err, refusals...) == codes.OK {
				active = append(active, key)
			}
		case op < 40: // write a marker, then commit
			a := pick(r, active)
			if a == "" {
				continue
			}
			ctx, cancel := d.ctx()
			mr, err := d.c.Mounts(ctx, &snapshotsapi.MountsRequest{Snapshotter: snapshotter, Key: a})
			cancel()
			if d.note("mounts", err, refusals...) != codes.OK {
				continue
			}
			name := prefix + "c" + key[len(prefix):]
			if err := writeMarker(mr.Mounts, mnt, name); err != nil {
				d.bad = append(d.bad, fmt.Sprintf("marker in %s: %v", a, err))
				continue
			}
			if d.note("commit", d.commit(name, a), refusals...) == codes.OK {
				active = drop(active, a)
				committed = append(committed, name)
			}
		case op < 48: // view
			if p := pick(r, committed); p != "" {
				_, err := d.prepare(key+"v", p, true)
				if d.note("view", err, refusals...) == codes.OK {
					views = append(views, key+"v")
				}
			}
		case op < 62: // remove: views, actives, committed (refused while it has children)
			var k string
			switch r.Intn(3) {
			case 0:
				k = pick(r, views)
			case 1:
				k = pick(r, active)
			default:
				k = pick(r, committed)
			}
			if k == "" {
				k = prefix + "nosuch"
			}
			if d.note("remove", d.remove(k), refusals...) == codes.OK {
				views, active, committed = drop(views, k), drop(active, k), drop(committed, k)
			}
		case op < 66: // a taken name, an unknown parent: refusals by design
			_, err := d.prepare(pick(r, append(append([]string{key}, active...), committed...)),
				prefix+"nosuch", false)
			d.note("prepare", err, refusals...)
		default: // the readers
			k := pick(r, append(append(append([]string{prefix + "nosuch"}, active...), committed...), views...))
			switch r.Intn(6) {
			case 0:
				_, err := d.stat(k)
				d.note("stat", err, refusals...)
			case 1:
				d.note("mounts", d.mounts(k), refusals...)
			case 2:
				d.note("usage", d.usage(k), refusals...)
			case 3:
				d.note("update", d.update(k, "n", fmt.Sprint(n)), refusals...)
			case 4:
				_, err := d.list()
				d.note("list", err, refusals...)
			default:
				d.note("cleanup", d.cleanup(), refusals...)
			}
		}
	}
	return n
}

type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error)      { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error { *(v.(*[]byte)) = data; return nil }
func (rawCodec) Name() string                               { return "proto" }

// all calls every method, and the failing requests, each with the code it must get.
func (d *driver) all(mnt string) {
	raw := func(method string, body []byte, opts ...grpc.CallOption) error {
		ctx, cancel := d.ctx()
		defer cancel()
		var out []byte
		opts = append(opts, grpc.ForceCodec(rawCodec{}))
		return d.conn.Invoke(ctx, "/containerd.services.snapshots.v1.Snapshots/"+method, &body,
			&out, opts...)
	}
	ms, err := d.prepare("a", "", false)
	d.want("prepare", err, codes.OK)
	if err == nil {
		if err := writeMarker(ms, mnt, "c"); err != nil {
			d.bad = append(d.bad, "marker: "+err.Error())
		}
	}
	d.want("mounts", d.mounts("a"), codes.OK)
	_, err = d.stat("a")
	d.want("stat", err, codes.OK)
	d.want("usage", d.usage("a"), codes.OK)
	d.want("update", d.update("a", "x", "1"), codes.OK)
	d.want("commit", d.commit("c", "a"), codes.OK)
	_, err = d.prepare("v", "c", true)
	d.want("view", err, codes.OK)
	_, err = d.prepare("b", "c", false)
	d.want("prepare child", err, codes.OK)
	names, err := d.list()
	d.want("list", err, codes.OK)
	if len(names) != 3 {
		d.bad = append(d.bad, fmt.Sprintf("list: %v, want c, v, b", names))
	}
	names, err = d.list("kind==committed", "labels.x==1")
	d.want("list filtered", err, codes.OK)
	if len(names) != 1 || names[0] != "c" {
		d.bad = append(d.bad, fmt.Sprintf("list filtered: %v, want [c]", names))
	}
	_, err = d.list("kind==")
	d.want("list bad filter", err, codes.InvalidArgument)
	_, err = d.list("name~=\"[\"")
	d.want("list bad regexp", err, codes.InvalidArgument)
	d.want("commit taken name", d.commit("c", "b"), codes.AlreadyExists)
	_, err = d.prepare("b", "", false)
	d.want("prepare taken key", err, codes.AlreadyExists)
	_, err = d.prepare("x", "nosuch", false)
	d.want("prepare unknown parent", err, codes.NotFound)
	_, err = d.prepare("x", "b", false)
	d.want("prepare active parent", err, codes.InvalidArgument)
	_, err = d.prepare("", "", false)
	d.want("prepare empty key", err, codes.InvalidArgument)
	_, err = d.prepare("x", "b", true)
	d.want("view active parent", err, codes.InvalidArgument)
	d.want("commit a view", d.commit("c2", "v"), codes.FailedPrecondition)
	d.want("remove with children", d.remove("c"), codes.FailedPrecondition)
	_, err = d.stat("nosuch")
	d.want("stat unknown", err, codes.NotFound)
	d.want("mounts unknown", d.mounts("nosuch"), codes.NotFound)
	d.want("usage unknown", d.usage("nosuch"), codes.NotFound)
	d.want("update unknown", d.update("nosuch", "x", "1"), codes.NotFound)
	d.want("commit unknown", d.commit("c3", "nosuch"), codes.NotFound)
	d.want("remove unknown", d.remove("nosuch"), codes.NotFound)
	d.want("malformed protobuf", raw("Stat", []byte{0x12, 0x7f, 0x01}), codes.InvalidArgument)
	d.want("wrong wire type", raw("Prepare", []byte{0x13, 0x00}), codes.InvalidArgument)
	d.want("unknown method", raw("Rename", []byte{}), codes.Unimplemented)
	big := make([]byte, 17<<20)
	d.want("oversize", raw("Stat", big, grpc.MaxCallSendMsgSize(64<<20)), codes.ResourceExhausted)
	d.want("remove view", d.remove("v"), codes.OK)
	d.want("remove child", d.remove("b"), codes.OK)
	d.want("remove committed", d.remove("c"), codes.OK)
	d.want("cleanup", d.cleanup(), codes.OK)
	names, err = d.list()
	d.want("list empty", err, codes.OK)
	if len(names) != 0 {
		d.bad = append(d.bad, fmt.Sprintf("list at the end: %v, want none", names))
	}
}

func counts(m map[string]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func main() {
	sock := flag.String("sock", "", "thinsnapd's socket")
	dur := flag.Duration("random", 0, "random calls for this long")
	all := flag.Bool("all", false, "every method, with failing requests")
	seed := flag.Int64("seed", time.Now().UnixNano(), "random seed")
	prefix := flag.String("prefix", "d-", "key prefix of the random mode")
	mnt := flag.String("mnt", "/tmp/snapdrive-mnt", "where to mount actives to write markers")
	timeout := flag.Duration("call-timeout", 60*time.Second, "a call slower than this fails")
	removeKey := flag.String("remove", "", "remove this key once")
	flag.Parse()
	if *sock == "" || (*dur == 0) == !*all && *removeKey == "" {
		fmt.Fprintln(os.Stderr, "usage: snapdrive -sock SOCKET (-random DURATION | -all | -remove KEY)")
		os.Exit(2)
	}
	conn, err := grpc.Dial(dialer.DialAddress(*sock), grpc.WithInsecure(),
		grpc.WithContextDialer(dialer.ContextDialer))
	if err != nil {
		fmt.Fprintf(os.Stderr, "snapdrive: dial %s: %v\n", *sock, err)
		os.Exit(1)
	}
	defer conn.Close()
	d := &driver{c: snapshotsapi.NewSnapshotsClient(conn), conn: conn, timeout: *timeout,
		calls: map[string]int{}, codes: map[string]int{}}
	if *removeKey != "" {
		err := d.remove(*removeKey)
		fmt.Printf("snapdrive: remove %s: %s\n", *removeKey, status.Code(err))
		if err != nil {
			fmt.Fprintf(os.Stderr, "snapdrive: %v\n", err)
			os.Exit(1)
		}
		return
	}
	start := time.Now()
	if *all {
		d.all(*mnt)
	} else {
		fmt.Printf("snapdrive: seed %d\n", *seed)
		d.random(*dur, rand.New(rand.NewSource(*seed)), *prefix, *mnt)
	}
	total := 0
	for _, v := range d.calls {
		total += v
	}
	fmt.Printf("snapdrive: %d calls in %.1f s; calls: %s; refusals: %s; unexpected: %d\n",
		total, time.Since(start).Seconds(), counts(d.calls), counts(d.codes), len(d.bad))
	for _, b := range d.bad {
		fmt.Fprintf(os.Stderr, "snapdrive: unexpected: %s\n", b)
	}
	if len(d.bad) > 0 {
		os.Exit(1)
	}
}
