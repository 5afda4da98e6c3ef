// containerd's snapshotter conformance suite (snapshots/testsuite, containerd 1.6 from Debian's
// golang-github-containerd-containerd-dev) run through containerd's own proxy client against
// thinsnapd's socket. Every case gets a fresh daemon: $THINSNAP_SUITE_HELPER start ROOT prints
// the socket of a daemon whose state lives in ROOT; "stop ROOT" ends it. Built offline in
// GOPATH mode (tests/conformance/build.sh); run as root where it can mount.
package conformance

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/defaults"
	"github.com/containerd/containerd/pkg/dialer"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/proxy"
	"github.com/containerd/containerd/snapshots/testsuite"
	"google.golang.org/grpc"
)

// Dial the way containerd dials a proxy plugin (services/server/server.go).
func dial(ctx context.Context, address string) (*grpc.ClientConn, error) {
	return grpc.DialContext(ctx, dialer.DialAddress(address),
		grpc.WithInsecure(),
		grpc.WithContextDialer(dialer.ContextDialer),
		grpc.WithBlock(),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(defaults.DefaultMaxRecvMsgSize),
			grpc.MaxCallSendMsgSize(defaults.DefaultMaxSendMsgSize)))
}

func helper(t *testing.T, verb, root string) (string, error) {
	h := os.Getenv("THINSNAP_SUITE_HELPER")
	if h == "" {
		t.Skip("THINSNAP_SUITE_HELPER is not set")
	}
	cmd := exec.Command(h, verb, root)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

func TestThinsnap(t *testing.T) {
	testsuite.SnapshotterSuite(t, "thinsnap", func(ctx context.Context, root string) (snapshots.Snapshotter, func() error, error) {
		sock, err := helper(t, "start", root)
		if err != nil {
			return nil, nil, err
		}
		conn, err := dial(ctx, sock)
		if err != nil {
			_, _ = helper(t, "stop", root)
			return nil, nil, err
		}
		sn := proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), "thinsnap")
		return sn, func() error {
			conn.Close()
			_, err := helper(t, "stop", root)
			return err
		}, nil
	})
}
