// Package seal encrypts central's submissions at rest, whichever store
// holds them.
//
// Envelope encryption: each submission gets a random 256-bit data key
// (DEK) that seals, with AES-256-GCM, its id, payload, decision, image
// hashes, image content keys and every image chunk. The associated data of
// each sealed value names what it is, the device and submission key and,
// for images, the image name and offset, so ciphertext moved to another
// row, image or position does not open. The DEK is stored wrapped by a
// key-encryption key (KEK) from a KEKProvider: FileKeyring, a 0600 file
// beside the store, or a KMS behind the same interface.
//
// Rotation (Rotate, `kyc-central keys rotate`) makes a new KEK current,
// rewraps every DEK under it (images and payloads are not re-encrypted)
// and then retires the old KEK. Erasure deletes a submission's wrapped DEK
// with its rows: what copies of the ciphertext remain (free pages of the
// bbolt file, PostgreSQL's dead tuples and write-ahead log, backups) cannot
// be opened without it, and once the next rotation retires the KEK that
// wrapped it, not even from a copy of the old wrapped DEK.
//
// Which keyring a store is sealed under is shown by its key check record
// (check.go), which CheckKeys reads at `serve` and `restore`: a store
// beside a keyring that cannot open it is refused, whether or not it
// holds a submission yet.
//
// Searching works through keyed blind indexes: the person's NIK, document
// number and name, normalised (Normalize), hashed with HMAC-SHA256 under
// the keyring's index key, and stored as tokens beside the submission; the
// plaintext is never stored outside the sealed payload.
//
// A partner's user reference (partner_user_id), in its sessions and its
// webhook and push events' bodies, is sealed under a key derived from the
// index key, which outlives the KEKs as those sessions do (flow.go).
//
// Store is a decorator: it wraps any central.Store, so the server and the
// store conformance suite run unchanged on bbolt and PostgreSQL, encrypted.
package seal
