package partnerapi

import (
	"encoding/json"
	"fmt"

	"github.com/openkyc/kyc/sync/central"
)

// Members of central.Partner.Config, the partner API's per-partner
// settings: each feature owns one member and leaves the others as they
// are.
const (
	configPush           = "push"
	configReferenceImage = "reference_image"
)

// configMember decodes the member name of p's Config into dst; false when
// it is absent or null.
func configMember(p central.Partner, name string, dst any) (bool, error) {
	if len(p.Config) == 0 {
		return false, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(p.Config, &m); err != nil {
		return false, fmt.Errorf("partner %s: reading its settings: %w", p.ID, err)
	}
	raw, ok := m[name]
	if !ok || string(raw) == "null" {
		return false, nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return false, fmt.Errorf("partner %s: reading its %s settings: %w", p.ID, name, err)
	}
	return true, nil
}

// setConfigMember sets (v nil: removes) the member name of p's Config,
// keeping the others.
func setConfigMember(p *central.Partner, name string, v any) error {
	m := map[string]json.RawMessage{}
	if len(p.Config) > 0 {
		if err := json.Unmarshal(p.Config, &m); err != nil {
			return fmt.Errorf("partner %s: reading its settings: %w", p.ID, err)
		}
	}
	if v == nil {
		delete(m, name)
	} else {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		m[name] = b
	}
	if len(m) == 0 {
		p.Config = nil
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	p.Config = b
	return nil
}
