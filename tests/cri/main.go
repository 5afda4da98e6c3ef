// A CRI v1 client that walks the path a kubelet takes through containerd's CRI plugin: pull
// the pause and test images, run a host-network pod sandbox, create and start a container in
// it, exec in it, read ContainerStats and ImageFsInfo, stop and remove everything. It prints
// what it saw as "key value" lines (timings in ms) and exits non-zero on the first failed
// call or check. Debian 12 has no crictl; this is built by tests/cri/build.sh.
//
//	thinsnap-cri -addr SOCK -image REF -pause REF [-work DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	rt "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// protoCodec marshals with protobuf's v2 API: the default codec of Debian 12's grpc (1.33)
// can't marshal messages generated for the v2 API only.
type protoCodec struct{}

func (protoCodec) Marshal(v interface{}) ([]byte, error) { return proto.Marshal(v.(proto.Message)) }
func (protoCodec) Unmarshal(b []byte, v interface{}) error {
	return proto.Unmarshal(b, v.(proto.Message))
}
func (protoCodec) Name() string { return "proto" }

type client struct {
	conn *grpc.ClientConn
}

// call invokes SERVICE/METHOD ("RuntimeService/RunPodSandbox") with a deadline.
func (c *client) call(method string, req, resp proto.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.conn.Invoke(ctx, "/runtime.v1."+method, req, resp); err != nil {
		die("%s: %v", method, err)
	}
}

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "cri: "+format+"\n", args...)
	os.Exit(1)
}

func say(key string, format string, args ...interface{}) {
	fmt.Printf("%s %s\n", key, fmt.Sprintf(format, args...))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

func main() {
	addr := flag.String("addr", "", "containerd's socket")
	image := flag.String("image", "", "the test image (busybox)")
	pause := flag.String("pause", "", "the pause image")
	work := flag.String("work", os.TempDir(), "a folder for the pod's logs")
	flag.Parse()
	if *addr == "" || *image == "" || *pause == "" {
		die("usage: thinsnap-cri -addr SOCK -image REF -pause REF [-work DIR]")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	conn, err := grpc.DialContext(ctx, *addr, grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", a)
		}),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(protoCodec{})))
	cancel()
	if err != nil {
		die("dial %s: %v", *addr, err)
	}
	c := &client{conn: conn}
	defer conn.Close()

	ver := &rt.VersionResponse{}
	c.call("RuntimeService/Version", &rt.VersionRequest{Version: "v1"}, ver)
	say("runtime", "%s %s (CRI %s)", ver.RuntimeName, ver.RuntimeVersion, ver.RuntimeApiVersion)

	for _, ref := range []string{*pause, *image} {
		t := time.Now()
		pr := &rt.PullImageResponse{}
		c.call("ImageService/PullImage", &rt.PullImageRequest{Image: &rt.ImageSpec{Image: ref}}, pr)
		say("pulled", "%s %s ms=%s", ref, pr.ImageRef, ms(time.Since(t)))
	}

	checkImageFs(c)

	// The pod: host network (no CNI) and so the host's UTS namespace (no hostname), logs under
	// work.
	logs := filepath.Join(*work, "pod-logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		die("%v", err)
	}
	podCfg := &rt.PodSandboxConfig{
		Metadata:     &rt.PodSandboxMetadata{Name: "thinsnap-pod", Uid: "thinsnap-uid-1", Namespace: "default", Attempt: 0},
		LogDirectory: logs,
		Linux: &rt.LinuxPodSandboxConfig{SecurityContext: &rt.LinuxSandboxSecurityContext{
			NamespaceOptions: &rt.NamespaceOption{Network: rt.NamespaceMode_NODE}}},
	}
	t0 := time.Now()
	pod := &rt.RunPodSandboxResponse{}
	c.call("RuntimeService/RunPodSandbox", &rt.RunPodSandboxRequest{Config: podCfg}, pod)
	tPod := time.Since(t0)
	ctr := &rt.CreateContainerResponse{}
	c.call("RuntimeService/CreateContainer", &rt.CreateContainerRequest{
		PodSandboxId: pod.PodSandboxId,
		Config: &rt.ContainerConfig{
			Metadata: &rt.ContainerMetadata{Name: "work"},
			Image:    &rt.ImageSpec{Image: *image},
			Command:  []string{"/bin/sh", "-c", "echo written > /tmp/written; exec sleep 100000"},
			LogPath:  "work.log",
			Linux:    &rt.LinuxContainerConfig{},
		},
		SandboxConfig: podCfg,
	}, ctr)
	tCreate := time.Since(t0)
	c.call("RuntimeService/StartContainer", &rt.StartContainerRequest{ContainerId: ctr.ContainerId}, &rt.StartContainerResponse{})
	tStart := time.Since(t0)
	for {
		st := &rt.ContainerStatusResponse{}
		c.call("RuntimeService/ContainerStatus", &rt.ContainerStatusRequest{ContainerId: ctr.ContainerId}, st)
		if st.Status.State == rt.ContainerState_CONTAINER_RUNNING {
			break
		}
		if st.Status.State == rt.ContainerState_CONTAINER_EXITED || time.Since(t0) > time.Minute {
			die("container state %v (%s)", st.Status.State, st.Status.Message)
		}
		time.Sleep(20 * time.Millisecond)
	}
	say("timing", "pod_ready_ms=%s container_created_ms=%s container_started_ms=%s running_ms=%s",
		ms(tPod), ms(tCreate), ms(tStart), ms(time.Since(t0)))

	motd := execSync(c, ctr.ContainerId, "/bin/cat", "/etc/motd")
	say("motd", "%s", motd)
	var written string
	for i := 0; i < 100 && written != "written"; i++ {
		written = execSync(c, ctr.ContainerId, "/bin/cat", "/tmp/written")
		time.Sleep(50 * time.Millisecond)
	}
	if written != "written" {
		die("/tmp/written in the container: %q", written)
	}
	checkStats(c, ctr.ContainerId)

	c.call("RuntimeService/StopContainer", &rt.StopContainerRequest{ContainerId: ctr.ContainerId, Timeout: 1}, &rt.StopContainerResponse{})
	c.call("RuntimeService/RemoveContainer", &rt.RemoveContainerRequest{ContainerId: ctr.ContainerId}, &rt.RemoveContainerResponse{})
	c.call("RuntimeService/StopPodSandbox", &rt.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId}, &rt.StopPodSandboxResponse{})
	c.call("RuntimeService/RemovePodSandbox", &rt.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId}, &rt.RemovePodSandboxResponse{})
	pods := &rt.ListPodSandboxResponse{}
	c.call("RuntimeService/ListPodSandbox", &rt.ListPodSandboxRequest{}, pods)
	ctrs := &rt.ListContainersResponse{}
	c.call("RuntimeService/ListContainers", &rt.ListContainersRequest{}, ctrs)
	if len(pods.Items) != 0 || len(ctrs.Containers) != 0 {
		die("left: %d pods, %d containers", len(pods.Items), len(ctrs.Containers))
	}
	say("removed", "pod %s container %s", pod.PodSandboxId, ctr.ContainerId)
}

func execSync(c *client, id string, cmd ...string) string {
	r := &rt.ExecSyncResponse{}
	c.call("RuntimeService/ExecSync", &rt.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: 30}, r)
	if r.ExitCode != 0 {
		return fmt.Sprintf("exit %d: %s", r.ExitCode, strings.TrimSpace(string(r.Stderr)))
	}
	return strings.TrimSpace(string(r.Stdout))
}

// ImageFsInfo names the image filesystem's mount point: kubelet reads its capacity and free
// space, so it must exist. Its used bytes are containerd's sums of the snapshotter's Usage,
// collected every stats_collect_period: wait for them.
func checkImageFs(c *client) {
	deadline := time.Now().Add(time.Minute)
	for {
		fsi := &rt.ImageFsInfoResponse{}
		c.call("ImageService/ImageFsInfo", &rt.ImageFsInfoRequest{}, fsi)
		if len(fsi.ImageFilesystems) == 0 {
			die("ImageFsInfo: no image filesystem")
		}
		f := fsi.ImageFilesystems[0]
		if f.GetUsedBytes().GetValue() == 0 {
			if time.Now().After(deadline) {
				die("ImageFsInfo: no bytes used for images within a minute (%v)", f)
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		mp := f.GetFsId().GetMountpoint()
		var st syscall.Statfs_t
		if err := syscall.Statfs(mp, &st); err != nil {
			die("ImageFsInfo names %q: %v", mp, err)
		}
		say("imagefs", "%s used_bytes=%d inodes_used=%d capacity_bytes=%d avail_bytes=%d",
			mp, f.GetUsedBytes().GetValue(), f.GetInodesUsed().GetValue(),
			uint64(st.Blocks)*uint64(st.Bsize), uint64(st.Bavail)*uint64(st.Bsize))
		return
	}
}

// ContainerStats' writable layer comes from the snapshotter's Usage, which containerd's CRI
// collects every stats_collect_period: wait for a figure, then it must count the container's
// own file, not its image's.
func checkStats(c *client, id string) {
	deadline := time.Now().Add(time.Minute)
	for {
		r := &rt.ContainerStatsResponse{}
		c.call("RuntimeService/ContainerStats", &rt.ContainerStatsRequest{ContainerId: id}, r)
		wl := r.GetStats().GetWritableLayer()
		if wl.GetTimestamp() > 0 && wl.GetInodesUsed().GetValue() > 0 {
			say("stats", "writable_layer used_bytes=%d inodes_used=%d mountpoint=%s",
				wl.GetUsedBytes().GetValue(), wl.GetInodesUsed().GetValue(), wl.GetFsId().GetMountpoint())
			if wl.GetInodesUsed().GetValue() > 32 {
				die("writable layer counts %d inodes: the image's too", wl.GetInodesUsed().GetValue())
			}
			return
		}
		if time.Now().After(deadline) {
			die("ContainerStats: no writable layer usage within a minute (%v)", r.GetStats())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
