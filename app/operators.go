package app

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// ErrBadCredentials means the operator name or passphrase is wrong. The
// screen does not say which, so names cannot be probed.
var ErrBadCredentials = errors.New("unknown operator or wrong passphrase")

// minPassphrase is the shortest passphrase an operator account accepts.
const minPassphrase = 8

// Role is what an operator account may do on this device.
type Role string

// The roles. A supervisor opens every operator's submissions, enrols the
// device and adds accounts; an operator opens their own.
const (
	RoleOperator   Role = "operator"
	RoleSupervisor Role = "supervisor"
)

// operatorHash is one local account: an Argon2id hash of the passphrase.
type operatorHash struct {
	Name string `json:"name"`
	// Role is empty for accounts made before roles: the first one, made
	// at first run by whoever set the device up, is the supervisor.
	Role    Role   `json:"role,omitempty"`
	Salt    []byte `json:"salt"`
	Hash    []byte `json:"hash"`
	Time    uint32 `json:"time"`
	Memory  uint32 `json:"memory_kib"`
	Threads uint8  `json:"threads"`
}

// operators is the accounts file: local, so a field agent signs in offline.
type operators struct {
	Accounts []operatorHash `json:"accounts"`
}

// The Argon2id cost of new accounts: about a tenth of a second here, which
// bounds guessing on a stolen laptop without keeping the operator waiting.
const (
	argonTime    = 2
	argonMemory  = 32 * 1024
	argonThreads = 1
)

func hashPassphrase(name, pass string) (operatorHash, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return operatorHash{}, fmt.Errorf("drawing a salt: %w", err)
	}
	return operatorHash{Name: name, Salt: salt, Time: argonTime, Memory: argonMemory, Threads: argonThreads,
		Hash: argon2.IDKey([]byte(pass), salt, argonTime, argonMemory, argonThreads, 32)}, nil
}

// decoy is hashed for a name no account has, so that a wrong name takes
// as long as a wrong passphrase: answering at once would tell a guesser
// at the kiosk which operator names exist.
var decoy = operatorHash{Salt: make([]byte, 16), Hash: make([]byte, 32), Time: argonTime, Memory: argonMemory, Threads: argonThreads}

// check verifies name and pass against the accounts and returns the
// account's role. It hashes once whether or not the name exists.
func (o operators) check(name, pass string) (Role, error) {
	i := slices.IndexFunc(o.Accounts, func(a operatorHash) bool { return a.Name == name })
	a := decoy
	if i >= 0 {
		a = o.Accounts[i]
	}
	h := argon2.IDKey([]byte(pass), a.Salt, a.Time, a.Memory, a.Threads, uint32(len(a.Hash)))
	if subtle.ConstantTimeCompare(h, a.Hash) != 1 || i < 0 {
		return "", ErrBadCredentials
	}
	switch {
	case a.Role != "":
		return a.Role, nil
	case i == 0:
		return RoleSupervisor, nil
	}
	return RoleOperator, nil
}

// validateAccount checks a new account's name and passphrase.
func validateAccount(name, pass string) error {
	switch {
	case strings.TrimSpace(name) == "" || name != strings.TrimSpace(name):
		return errors.New("operator name: empty or padded with spaces")
	case utf8.RuneCountInString(name) > 64:
		return errors.New("operator name: longer than 64 characters")
	case strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }):
		// The name is shown on the queue and written to the audit trail
		// and with each submission: no newline or terminal escape, nor an
		// invisible character that reorders or hides text (U+202E).
		return errors.New("operator name: letters, digits, spaces and punctuation only")
	case utf8.RuneCountInString(pass) < minPassphrase:
		return fmt.Errorf("passphrase: at least %d characters", minPassphrase)
	}
	return nil
}

// NewOperator is the settings screen's form for another operator account,
// which a supervisor allows with their passphrase.
type NewOperator struct {
	Supervisor string `json:"supervisor"`
	Passphrase string `json:"passphrase"`
	Name       string `json:"name"`
	// NewPassphrase is the new account's passphrase.
	NewPassphrase string `json:"new_passphrase"`
	Role          Role   `json:"role"`
}

// AddOperator adds an operator account to this device, as a supervisor
// allows: the accounts are local, so operators sign in offline.
func (a *App) AddOperator(req NewOperator) (View, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.touchLocked()
	err := a.addOperatorLocked(req)
	if err != nil {
		a.ui.lastError = "The account was not added: " + err.Error()
		a.ui.rev++
		return a.viewLocked(), err
	}
	a.audit("operator.add", req.Name)
	a.setScreenLocked(a.ui.screen)
	return a.viewLocked(), nil
}

func (a *App) addOperatorLocked(req NewOperator) error {
	if role, err := a.checkPassLocked(req.Supervisor, req.Passphrase); err != nil || role != RoleSupervisor {
		return errors.Join(errors.New("a supervisor's name and passphrase are needed to add an account"), tooMany(err))
	}
	if req.Role != RoleOperator && req.Role != RoleSupervisor {
		return fmt.Errorf("role %q: want operator or supervisor", req.Role)
	}
	if err := validateAccount(req.Name, req.NewPassphrase); err != nil {
		return err
	}
	for _, acc := range a.staff.accounts.Accounts {
		if acc.Name == req.Name {
			return fmt.Errorf("an account named %q exists", req.Name)
		}
	}
	h, err := hashPassphrase(req.Name, req.NewPassphrase)
	if err != nil {
		return err
	}
	h.Role = req.Role
	ops := operators{Accounts: append(slices.Clone(a.staff.accounts.Accounts), h)}
	if err := writeJSON(filepath.Join(a.cfg.Dir, "operators.json"), ops); err != nil {
		return err
	}
	a.staff.accounts = ops
	return nil
}
