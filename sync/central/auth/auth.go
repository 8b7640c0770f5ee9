// Package auth is how people sign in to central's console: passwords
// hashed with argon2id, a TOTP second factor whose secret is sealed at
// rest, sessions of which only a hash is stored, lockout after failed
// sign-ins, and the order of roles.
//
// Passwords use golang.org/x/crypto/argon2 (already a dependency, kept by
// the Go team) with the PHC string format
// "$argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash>" that
// github.com/alexedwards/argon2id also writes, so a hash says how it was
// made and parameters can be raised later without breaking old hashes.
// The wrapper library adds nothing the thirty lines here do not, and one
// dependency fewer is one fewer to keep.
package auth

import (
	"crypto/sha256"

	"github.com/openkyc/kyc/sync/central"
)

// roleRank orders roles: each can do what the ones below it can.
var roleRank = map[central.Role]int{central.RoleAuditor: 1, central.RoleReviewer: 2, central.RoleAdmin: 3}

// AtLeast reports whether role have may do what min may. An unknown role
// may do nothing.
func AtLeast(have, min central.Role) bool {
	h, ok := roleRank[have]
	return ok && h >= roleRank[min]
}

// HashToken is the stored form of a session token: SHA-256 (the token is
// 32 random bytes, so no slow hash is needed).
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
