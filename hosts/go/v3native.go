package wxcoupon

// API v3's RSA in Go, for V3Client: the merchant's private key signs each request's message here
// (crypto/rsa, SHA256withRSA PKCS#1 v1.5) and WeChat's answers are verified here, because RSA
// inside wasm costs about 10 ms a signature and 0.4 ms a verification against well under that
// natively. The component still does everything else — builds the message (`build-*`), puts the
// signature into the request (`authorize`), checks an answer up to its signature (`check-answer`)
// and reads the verified body (`read-*`) — and never sees the private key.

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"sync"
)

// The component's rules for the keys (ring's): a merchant key of 2048–4096 bits with an exponent
// of at least 65537; answers verified under 2048–8192-bit keys.
const (
	merchantKeyMinBits, merchantKeyMaxBits = 2048, 4096
	answerKeyMinBits, answerKeyMaxBits     = 2048, 8192
)

// parseMerchantKey reads the merchant API private key (PKCS#8 PEM, `apiclient_key.pem`) the way
// the component's merchant.open does, with its error (the setting named, never a value).
func parseMerchantKey(pemText string) (*rsa.PrivateKey, error) {
	const form = " (a PKCS#8 PEM, BEGIN PRIVATE KEY)"
	rest := []byte(pemText)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, &InvalidInputError{Field: "merchant.private_key", Rule: "not the PEM block expected" + form}
		}
		if block.Type != "PRIVATE KEY" {
			continue
		}
		parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes) // validated and precomputed (CRT)
		key, isRSA := parsed.(*rsa.PrivateKey)
		if err != nil || !isRSA || key.N.BitLen() < merchantKeyMinBits || key.N.BitLen() > merchantKeyMaxBits || key.E < 65537 {
			return nil, &InvalidInputError{Field: "merchant.private_key", Rule: "not an RSA key of 2048 bits or more" + form}
		}
		return key, nil
	}
}

// signMessage is the Base64 SHA256withRSA (PKCS#1 v1.5) signature of a `to-sign` message.
// crypto/rand blinds the private-key operation (timing).
func signMessage(key *rsa.PrivateKey, message string) (string, error) {
	digest := sha256.Sum256([]byte(message))
	signature, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(signature), nil
}

// publicKeys are the WeChat Pay keys `check-answer` handed out (PKCS#1 RSAPublicKey DER), each
// parsed once. A merchant holds a few (its public key, its platform certificates), so the cache
// is bounded, not evicting: it starts over when full.
type publicKeys struct {
	mu    sync.Mutex
	byDER map[string]*rsa.PublicKey // nil: a DER that is no key this host verifies with
}

const maxPublicKeys = 16

func (k *publicKeys) get(der []byte) *rsa.PublicKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	if key, ok := k.byDER[string(der)]; ok {
		return key
	}
	key, err := x509.ParsePKCS1PublicKey(der)
	if err != nil || key.N.BitLen() < answerKeyMinBits || key.N.BitLen() > answerKeyMaxBits {
		key = nil
	}
	if k.byDER == nil || len(k.byDER) >= maxPublicKeys {
		k.byDER = map[string]*rsa.PublicKey{}
	}
	k.byDER[string(der)] = key
	return key
}

// verifies says whether signature (Base64) is der's SHA256withRSA (PKCS#1 v1.5) signature of
// message: what the component's `parse-*` would have checked last.
func (k *publicKeys) verifies(checked *V3AnswerSignature) bool {
	key := k.get(checked.PublicKeyDER)
	if key == nil {
		return false
	}
	signature, err := base64.StdEncoding.DecodeString(strings.TrimSpace(checked.Signature))
	if err != nil {
		return false
	}
	digest := sha256.Sum256([]byte(checked.Message))
	return rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], signature) == nil
}
