package deviceconf

import "testing"

// TestResolve: the environment sets every setting, an explicit one (a
// flag, the app's configuration) replaces it, an empty one leaves it.
func TestResolve(t *testing.T) {
	t.Setenv(EnvDeviceDir, "/env/device")
	t.Setenv(EnvVaultKeyFile, "/env/vault.key")
	t.Setenv(EnvVaultPassphrase, "env passphrase words")
	t.Setenv(EnvKeyDir, "/env/keys")
	t.Setenv(EnvWatchlists, "/env/lists")
	env := Device{Dir: "/env/device", KeyFile: "/env/vault.key", Passphrase: "env passphrase words", KeyDir: "/env/keys",
		LocalWatchlists: "/env/lists"}
	if d := Resolve(Overrides{}); d != env {
		t.Errorf("Resolve without overrides = %+v, want the environment's %+v", d, env)
	}
	want := Device{Dir: "/flag/device", KeyFile: "/flag/vault.key", Passphrase: "env passphrase words", KeyDir: "/env/keys",
		LocalWatchlists: "/flag/lists"}
	if d := Resolve(Overrides{Dir: "/flag/device", KeyFile: "/flag/vault.key", LocalWatchlists: "/flag/lists"}); d != want {
		t.Errorf("Resolve with overrides = %+v, want %+v", d, want)
	}
	if p := Resolve(Overrides{Dir: "/flag/device"}).VaultPath(); p != "/flag/device/"+VaultFile {
		t.Errorf("vault path %s", p)
	}
}
