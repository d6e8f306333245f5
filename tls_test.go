package redstream_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/internal/redisproc"
)

// writePair writes a certificate signed by parent (self-signed when parent
// is nil) and its key as PEM files, and returns them with the parsed cert.
func writePair(t *testing.T, dir, name string, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certPath, keyPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return cert, key, certPath, keyPath
}

func TestDialRedissWithCAAndClientCertificate(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca, caKey, caPath, _ := writePair(t, dir, "ca", &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redstream test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}, nil, nil)
	_, _, srvCert, srvKey := writePair(t, dir, "server", &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, caKey)
	_, _, cliCert, cliKey := writePair(t, dir, "client", &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "redstream client"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, caKey)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv, err := redisproc.Start(dir, "--tls-port", strconv.Itoa(tlsPort),
		"--tls-cert-file", srvCert, "--tls-key-file", srvKey, "--tls-ca-cert-file", caPath, "--tls-auth-clients", "yes")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	url := "rediss://127.0.0.1:" + strconv.Itoa(tlsPort)

	c, err := redstream.Dial(ctxT(t, 10*time.Second), url, redstream.TLSCAFile(caPath), redstream.TLSClientCert(cliCert, cliKey))
	if err != nil {
		t.Fatalf("Dial over TLS with CA and client certificate: %v", err)
	}
	defer c.Close()
	p, _ := redstream.NewPublisher(c)
	if _, err := p.Publish(ctxT(t, 5*time.Second), "tls", redstream.Fields("a", "b")); err != nil {
		t.Fatalf("publish over TLS: %v", err)
	}

	// Without the client certificate the server refuses; without the CA the
	// client refuses the server. Both fail within the timeout.
	for name, opts := range map[string][]redstream.DialOption{
		"no client certificate": {redstream.TLSCAFile(caPath)},
		"unknown CA":            {redstream.TLSClientCert(cliCert, cliKey)},
	} {
		_, err := redstream.Dial(ctxT(t, 10*time.Second), url, append(opts, redstream.DialTimeout(2*time.Second))...)
		if !errors.Is(err, redstream.ErrUnreachable) {
			t.Errorf("%s: error = %v, want ErrUnreachable", name, err)
		}
	}
}
