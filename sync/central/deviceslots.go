package central

import "sync"

// deviceSlots bounds the requests each device has under way at once: up
// to Config.MaxPerDevice while fewer than half of central's slots are
// taken, and one once half are. The cap alone let MaxInFlight/MaxPerDevice
// devices (16 stolen kiosks' keys, each body sent at the minimum rate) hold
// every slot; with the half rule they hold at most half the slots plus
// one per device, so taking all 64 needs 40 devices, and a real device,
// whose agent sends one request at a time (a kiosk's hand-off poll may
// overlap it), is never refused while a slot is free. Its 429 asks for a
// second, which the agent honours.
type deviceSlots struct {
	max int
	mu  sync.Mutex
	m   map[string]int
}

func newDeviceSlots(max int) *deviceSlots { return &deviceSlots{max: max, m: map[string]int{}} }

// acquire takes one of the device's slots, or reports false when it has
// its share under way: max, or one when crowded (half of central's slots
// taken).
func (k *deviceSlots) acquire(deviceID string, crowded bool) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	limit := k.max
	if crowded {
		limit = 1
	}
	if k.m[deviceID] >= limit {
		return false
	}
	k.m[deviceID]++
	return true
}

// release returns a slot taken by acquire; a device with none under way
// holds no memory.
func (k *deviceSlots) release(deviceID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m[deviceID]--; k.m[deviceID] <= 0 {
		delete(k.m, deviceID)
	}
}
