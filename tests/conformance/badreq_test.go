// Bad requests through a real grpc-go client against one thinsnapd: an unknown key, a malformed
// protobuf, an oversize message, an unknown method; each gets its code and the daemon keeps
// serving on the same connection.
package conformance

import (
	"context"
	"os"
	"testing"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// rawCodec sends bytes as they are, so a test can send what no protobuf encoder would.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error)      { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error { *(v.(*[]byte)) = data; return nil }
func (rawCodec) Name() string                               { return "proto" }

const svc = "/containerd.services.snapshots.v1.Snapshots/"

func TestBadRequests(t *testing.T) {
	root, err := os.MkdirTemp("", "thinsnap-badreq-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	sock, err := helper(t, "start", root)
	if err != nil {
		t.Fatal(err)
	}
	defer helper(t, "stop", root)
	ctx := context.Background()
	conn, client := connect(ctx, t, sock)
	defer conn.Close()
	raw := func(method string, body []byte, opts ...grpc.CallOption) error {
		var out []byte
		opts = append(opts, grpc.ForceCodec(rawCodec{}))
		return conn.Invoke(ctx, svc+method, &body, &out, opts...)
	}
	expect := func(name string, err error, want codes.Code) {
		t.Helper()
		if got := status.Code(err); got != want {
			t.Errorf("%s: got %v (%v), want %v", name, got, err, want)
		}
	}

	_, err = client.Stat(ctx, &snapshotsapi.StatSnapshotRequest{Key: "nosuch"})
	expect("unknown key", err, codes.NotFound)
	_, err = client.Remove(ctx, &snapshotsapi.RemoveSnapshotRequest{Key: "nosuch"})
	expect("remove unknown key", err, codes.NotFound)
	expect("malformed protobuf", raw("Stat", []byte{0x12, 0x7f, 0x01}), codes.InvalidArgument)
	expect("wrong wire type", raw("Prepare", []byte{0x13, 0x00}), codes.InvalidArgument)
	big := make([]byte, 17<<20)
	expect("oversize", raw("Stat", big, grpc.MaxCallSendMsgSize(64<<20)), codes.ResourceExhausted)
	expect("unknown method", raw("Rename", []byte{}), codes.Unimplemented)
	expect("unknown service", conn.Invoke(ctx, "/containerd.services.content.v1.Content/Info",
		&snapshotsapi.StatSnapshotRequest{}, &snapshotsapi.StatSnapshotResponse{}), codes.Unimplemented)
	_, err = client.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Key: "k", Parent: "nosuch"})
	expect("unknown parent", err, codes.NotFound)

	// Still serving, on the same connection.
	if _, err := client.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Key: "k",
		Labels: map[string]string{"a": "1"}}); err != nil {
		t.Fatalf("prepare after bad requests: %v", err)
	}
	_, err = client.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Key: "k"})
	expect("prepare twice", err, codes.AlreadyExists)
	st, err := client.Stat(ctx, &snapshotsapi.StatSnapshotRequest{Key: "k"})
	if err != nil || st.Info.Name != "k" || st.Info.Labels["a"] != "1" {
		t.Fatalf("stat after bad requests: %v %+v", err, st)
	}
}
