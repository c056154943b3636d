package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// minioIdleTimeout is the e2e MinIO's --idle-timeout, which is also its
// read deadline for a request body: a body that stalls longer breaks the
// connection's state on MinIO's side, as its default of 30 s does in
// production, without the tests waiting 30 s.
const minioIdleTimeout = 3 * time.Second

// minioAddr returns host:port of the shared MinIO server, a second real
// backend next to versitygw, starting it on first use. The test fails if
// it cannot start.
func minioAddr(t testing.TB) string {
	t.Helper()
	suite.minioOnce.Do(func() {
		suite.minio, suite.minioAddr, suite.minioErr = startMinio("minio")
	})
	if suite.minioErr != nil {
		t.Fatalf("MinIO (the second real S3 backend) did not start: %v", suite.minioErr)
	}
	if suite.minio.exited() {
		t.Fatalf("MinIO exited early: %v\n%s", suite.minio.waitErr, suite.minio.output())
	}
	return suite.minioAddr
}

// minioPath finds the MinIO server: S3CACHE_E2E_MINIO, then PATH, then
// $GOPATH/bin.
func minioPath() (string, error) {
	return installedBinary("minio", "S3CACHE_E2E_MINIO", "bash .ci/test installs it")
}

// startMinio starts a single-drive MinIO on a free loopback port, with the
// suite's keys as its root user, and waits until it is ready. It retries
// a few times in case another process takes the port between probe and
// bind.
func startMinio(name string) (*process, string, error) {
	bin, err := minioPath()
	if err != nil {
		return nil, "", err
	}
	root := filepath.Join(suite.dir, name)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, "", err
	}
	env := cleanEnv(map[string]string{
		"MINIO_ROOT_USER":     testAccess,
		"MINIO_ROOT_PASSWORD": testSecret,
		"MINIO_BROWSER":       "off",
		"MINIO_UPDATE":        "off",
		"MINIO_REGION":        testRegion,
	})
	var lastErr error
	for range 3 {
		addr, err := freeAddr()
		if err != nil {
			return nil, "", err
		}
		console, err := freeAddr()
		if err != nil {
			return nil, "", err
		}
		p, err := startProcess(name, env, bin, "server", "--quiet",
			"--address", addr, "--console-address", console,
			"--idle-timeout", minioIdleTimeout.String(), root)
		if err != nil {
			return nil, "", err
		}
		err = poll(context.Background(), startTimeout, func(ctx context.Context) error {
			if p.exited() {
				return errExited
			}
			return wantStatus("http://"+addr+"/minio/health/ready", 200)(ctx)
		})
		if err == nil {
			return p, addr, nil
		}
		_ = p.stop(stopTimeout)
		lastErr = fmt.Errorf("%s on %s: %w\n%s", name, addr, err, p.output())
	}
	return nil, "", lastErr
}
