package device

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/openkyc/kyc/internal/ctxio"
)

// A sealed file ends with a trailer: the SHA-256 of every byte before the
// trailer, then sealMagic. ELF loaders ignore bytes past the last segment,
// so a sealed binary runs unchanged.
const (
	sealMagic      = "openkyc-seal-v1\n"
	sealTrailerLen = int64(sha256.Size + len(sealMagic))
)

// SealState says whether a file carries a valid seal.
type SealState string

// Seal states.
const (
	// SealValid: the trailer's hash matches the content.
	SealValid SealState = "sealed"
	// SealAbsent: no trailer, e.g. a development build.
	SealAbsent SealState = "unsealed"
	// SealBroken: the content changed after sealing.
	SealBroken SealState = "broken"
)

// SealStatus is the outcome of VerifySeal.
type SealStatus struct {
	State SealState
	// Digest is the hex SHA-256 of the content without any trailer: what
	// central compares with the release manifest.
	Digest string
	// Recorded is the hex hash in the trailer; "" when unsealed.
	Recorded string
}

// ErrEmptyFile is returned by Seal for an empty file, which is never a
// build output.
var ErrEmptyFile = errors.New("empty file")

// Seal appends a trailer recording the SHA-256 of the file at path, the
// build step that lets binary_integrity detect later modification. An
// existing trailer is replaced, so sealing twice is harmless. The file is
// rewritten through a temporary file, fsync and rename.
//
// The seal is not a signature: whoever can rewrite the binary can reseal
// it. It catches naive patching and damage; a determined attacker is caught
// by central comparing the digest in the signed attestation with the
// release manifest.
func Seal(ctx context.Context, path string) error {
	src, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sealing %s: %w", path, err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return fmt.Errorf("sealing %s: %w", path, err)
	}
	_, size, err := readTrailer(src, fi.Size())
	if err != nil {
		return fmt.Errorf("sealing %s: %w", path, err)
	}
	if size == 0 {
		return fmt.Errorf("sealing %s: %w", path, ErrEmptyFile)
	}
	if err := writeSealed(ctx, path, io.NewSectionReader(src, 0, size), fi.Mode().Perm()); err != nil {
		return fmt.Errorf("sealing %s: %w", path, err)
	}
	return nil
}

// readTrailer returns the hash recorded in f's seal (nil when unsealed) and
// the size of the content before the trailer.
func readTrailer(f *os.File, size int64) (recorded []byte, content int64, err error) {
	if size < sealTrailerLen {
		return nil, size, nil
	}
	trailer := make([]byte, sealTrailerLen)
	if _, err := f.ReadAt(trailer, size-sealTrailerLen); err != nil {
		return nil, 0, err
	}
	if !bytes.Equal(trailer[sha256.Size:], []byte(sealMagic)) {
		return nil, size, nil
	}
	return trailer[:sha256.Size], size - sealTrailerLen, nil
}

// writeSealed replaces path with content followed by its trailer.
func writeSealed(ctx context.Context, path string, content io.Reader, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".seal-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), ctxio.Reader(ctx, content)); err != nil {
		return err
	}
	if _, err := tmp.Write(append(h.Sum(nil), sealMagic...)); err != nil {
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// VerifySeal hashes the file at path and compares the hash with its seal.
func VerifySeal(ctx context.Context, path string) (SealStatus, error) {
	f, err := os.Open(path)
	if err != nil {
		return SealStatus{}, fmt.Errorf("verifying seal of %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return SealStatus{}, fmt.Errorf("verifying seal of %s: %w", path, err)
	}
	recorded, content, err := readTrailer(f, fi.Size())
	if err != nil {
		return SealStatus{}, fmt.Errorf("verifying seal of %s: %w", path, err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, ctxio.Reader(ctx, io.NewSectionReader(f, 0, content))); err != nil {
		return SealStatus{}, fmt.Errorf("verifying seal of %s: %w", path, err)
	}
	st := SealStatus{State: SealAbsent, Digest: hex.EncodeToString(h.Sum(nil))}
	if recorded != nil {
		st.Recorded = hex.EncodeToString(recorded)
		st.State = SealBroken
		if st.Recorded == st.Digest {
			st.State = SealValid
		}
	}
	return st, nil
}

// checkBinaryIntegrity verifies the seal of the running executable.
func checkBinaryIntegrity(ctx context.Context, e env) Result {
	r := newResult(CheckBinaryIntegrity, SeverityCritical)
	exe := e.path("proc/self/exe")
	if target, err := os.Readlink(exe); err == nil {
		r.Evidence["executable"] = target
	}
	st, err := VerifySeal(ctx, exe)
	if err != nil {
		r.Flag(StatusWarn, "error", err.Error())
		return r
	}
	r.Evidence["sha256"] = st.Digest
	switch st.State {
	case SealAbsent:
		r.Severity = SeverityMedium
		r.Flag(StatusWarn, "seal", string(SealAbsent))
	case SealBroken:
		r.Flag(StatusFail, "seal", string(SealBroken))
		r.Evidence["recorded_sha256"] = st.Recorded
	default:
		r.Evidence["seal"] = string(st.State)
	}
	return r
}
