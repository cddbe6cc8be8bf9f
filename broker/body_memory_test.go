package broker_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/portico-idp/portico/testenv"
)

// procStatus reads a field of /proc/PID/status, in bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %q", field, line)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// multipartUpload is a multipart/form-data body of about n bytes, made as
// it is sent: a file part, which gin's form parsing would keep in memory.
func multipartUpload(n int64) (io.Reader, int64, string) {
	const boundary = "portico-test-boundary"
	head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"big.bin\"\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n"
	tail := "\r\n--" + boundary + "--\r\n"
	body := io.MultiReader(strings.NewReader(head), io.LimitReader(repeatByte('a'), n), strings.NewReader(tail))
	return body, int64(len(head)) + n + int64(len(tail)), "multipart/form-data; boundary=" + boundary
}

// TestMultipartUploadsMemory is the review's measurement: 12 concurrent
// 30 MB multipart uploads to the HTML form endpoints of a real portico
// process. Each is refused with 415, and the process's peak resident
// memory grows by far less than one upload's size per request: nothing
// of them is buffered. The process serves on.
func TestMultipartUploadsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the portico binary")
	}
	bin := buildPortico(t)
	addr := freeAddr(t)
	cfgPath := filepath.Join(t.TempDir(), "portico.yaml")
	os.WriteFile(cfgPath, fmt.Appendf(nil, `issuer: http://%[1]s
listen: %[1]s
storage: {type: badger, dir: %[2]s}
connectors: [{id: local, type: local}]
clients:
  - {id: %[3]s, secret: %[4]s, redirect_uris: ["%[5]s"]}
log: {level: error}
`, addr, t.TempDir(), testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI), 0o600)
	p := startPortico(t, bin, cfgPath, "http://"+addr)
	pid := p.cmd.Process.Pid
	// Since Linux 4.0, writing 5 resets the peak (VmHWM) to the current
	// resident size, so the start-up's peak does not hide the uploads'.
	os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	before := max(procStatus(t, pid, "VmHWM"), procStatus(t, pid, "VmRSS"))

	const uploads, size = 12, 30 << 20
	paths := []string{"/login/local", "/mfa", "/mfa/enrol", "/consent"}
	var wg sync.WaitGroup
	statuses := make([]int, uploads)
	errs := make([]error, uploads)
	for i := range uploads {
		wg.Go(func() {
			body, n, ctype := multipartUpload(size)
			req, _ := http.NewRequest(http.MethodPost, p.url+paths[i%len(paths)], body)
			req.ContentLength = n
			req.Header.Set("Content-Type", ctype)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	peak := procStatus(t, pid, "VmHWM")
	growth := peak - before
	t.Logf("resident before %d MiB, peak after %d MiB", before>>20, peak>>20)
	for i := range uploads {
		if errs[i] != nil || statuses[i] != http.StatusUnsupportedMediaType {
			t.Errorf("upload %d to %s: status %d, %v; want 415", i, paths[i%len(paths)], statuses[i], errs[i])
		}
	}
	if growth > 100<<20 {
		t.Errorf("peak resident memory grew by %d MiB for %d uploads of %d MiB", growth>>20, uploads, size>>20)
	}
	resp, err := http.Get(p.url + "/.well-known/openid-configuration")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery after the uploads: %v", err)
	}
	resp.Body.Close()
}
