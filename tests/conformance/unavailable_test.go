// A pool that needs repair, through a real grpc-go client (tests/integration/t0807): every
// mutating call gets Unavailable with a message naming the repair step, reads still work.
// Runs only against the daemon at THINSNAP_UNAVAILABLE_SOCKET (the script sets the pool up);
// THINSNAP_UNAVAILABLE_WANT is the text the message must hold, THINSNAP_UNAVAILABLE_KEY a
// committed snapshot.
package conformance

import (
	"context"
	"os"
	"strings"
	"testing"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// connect dials the daemon at sock and returns the connection and a snapshots client on it.
func connect(ctx context.Context, t *testing.T, sock string) (*grpc.ClientConn, snapshotsapi.SnapshotsClient) {
	t.Helper()
	conn, err := dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	return conn, snapshotsapi.NewSnapshotsClient(conn)
}

func TestPoolUnavailable(t *testing.T) {
	sock := os.Getenv("THINSNAP_UNAVAILABLE_SOCKET")
	if sock == "" {
		t.Skip("THINSNAP_UNAVAILABLE_SOCKET not set (tests/integration/t0807 sets it)")
	}
	want := os.Getenv("THINSNAP_UNAVAILABLE_WANT")
	key := os.Getenv("THINSNAP_UNAVAILABLE_KEY")
	ctx := context.Background()
	conn, client := connect(ctx, t, sock)
	defer conn.Close()
	expect := func(name string, err error) {
		t.Helper()
		if got := status.Code(err); got != codes.Unavailable {
			t.Errorf("%s: got %v (%v), want Unavailable", name, got, err)
		} else if !strings.Contains(status.Convert(err).Message(), want) {
			t.Errorf("%s: message %q lacks %q", name, status.Convert(err).Message(), want)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	_, err := client.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Key: "grpc-new", Parent: key})
	expect("prepare", err)
	_, err = client.View(ctx, &snapshotsapi.ViewSnapshotRequest{Key: "grpc-view", Parent: key})
	expect("view", err)
	_, err = client.Remove(ctx, &snapshotsapi.RemoveSnapshotRequest{Key: key})
	expect("remove", err)
	_, err = client.Cleanup(ctx, &snapshotsapi.CleanupRequest{})
	expect("cleanup", err)
	// reads still work
	st, err := client.Stat(ctx, &snapshotsapi.StatSnapshotRequest{Key: key})
	if err != nil || st.Info.Name != key {
		t.Errorf("stat %s on a pool that needs repair: %v", key, err)
	}
}
