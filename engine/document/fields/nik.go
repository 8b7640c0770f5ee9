package fields

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	// ErrNIKLength is returned by ParseNIK for a number that is not 16
	// digits long.
	ErrNIKLength = errors.New("fields: NIK is not 16 digits")
	// ErrNIKProvince is returned by ParseNIK when the first two digits are
	// no Indonesian province code.
	ErrNIKProvince = errors.New("fields: NIK has an unknown province code")
	// ErrNIKDate is returned by ParseNIK when digits 7 to 12 are no date
	// (DDMMYY, with 40 added to the day for women).
	ErrNIKDate = errors.New("fields: NIK has an impossible birth date")
	// ErrNIKZero is returned by ParseNIK when the regency, district or
	// serial part is all zeros, which Dukcapil never assigns.
	ErrNIKZero = errors.New("fields: NIK has a zero region or serial number")
)

// provinces maps the two-digit province codes that begin a NIK (Kemendagri
// codes, as of the 2022 Papua split) to the provinces' names as printed on
// a KTP.
var provinces = map[string]string{
	"11": "ACEH", "12": "SUMATERA UTARA", "13": "SUMATERA BARAT", "14": "RIAU", "15": "JAMBI",
	"16": "SUMATERA SELATAN", "17": "BENGKULU", "18": "LAMPUNG", "19": "KEPULAUAN BANGKA BELITUNG",
	"21": "KEPULAUAN RIAU", "31": "DKI JAKARTA", "32": "JAWA BARAT", "33": "JAWA TENGAH",
	"34": "DI YOGYAKARTA", "35": "JAWA TIMUR", "36": "BANTEN", "51": "BALI",
	"52": "NUSA TENGGARA BARAT", "53": "NUSA TENGGARA TIMUR", "61": "KALIMANTAN BARAT",
	"62": "KALIMANTAN TENGAH", "63": "KALIMANTAN SELATAN", "64": "KALIMANTAN TIMUR",
	"65": "KALIMANTAN UTARA", "71": "SULAWESI UTARA", "72": "SULAWESI TENGAH",
	"73": "SULAWESI SELATAN", "74": "SULAWESI TENGGARA", "75": "GORONTALO", "76": "SULAWESI BARAT",
	"81": "MALUKU", "82": "MALUKU UTARA", "91": "PAPUA", "92": "PAPUA BARAT", "93": "PAPUA SELATAN",
	"94": "PAPUA TENGAH", "95": "PAPUA PEGUNUNGAN", "96": "PAPUA BARAT DAYA",
}

// Province returns the name of the Indonesian province with the given
// two-digit code, or "" for no province.
func Province(code string) string { return provinces[code] }

// NIK is a decoded Nomor Induk Kependudukan, the 16-digit number of an
// Indonesian resident: PPKKCC (province, regency or city, district), the
// birth date DDMMYY with 40 added to the day for women, and a serial.
type NIK struct {
	Number       string `json:"number"`
	Valid        bool   `json:"valid"`
	ProvinceCode string `json:"province_code,omitempty"`
	Province     string `json:"province,omitempty"`
	RegencyCode  string `json:"regency_code,omitempty"`  // PPKK
	DistrictCode string `json:"district_code,omitempty"` // PPKKCC
	// BirthDate is ISO 8601, the century chosen so that it is not after now.
	BirthDate string `json:"birth_date,omitempty"`
	Sex       string `json:"sex,omitempty"` // M or F
	Serial    string `json:"serial,omitempty"`
	// Corrected counts the characters read as the digits they resemble.
	Corrected int `json:"corrected"`
	// Problems says why the number is not valid.
	Problems []string `json:"problems,omitempty"`

	birth date // as printed, two-digit year
}

// ParseNIK decodes a NIK, reading letters OCR confuses with digits (O, I, l,
// B, S, Z, G, b) as those digits and ignoring spaces. It decodes what it
// can even from an invalid number; the error joins every problem found.
func ParseNIK(s string, now time.Time) (*NIK, error) {
	fixed, corrected, _ := fixDigits(strings.Join(strings.Fields(s), ""))
	n := &NIK{Number: fixed, Corrected: corrected}
	var errs []error
	if len(fixed) != 16 || strings.Trim(fixed, "0123456789") != "" {
		errs = append(errs, fmt.Errorf("%w: %q", ErrNIKLength, fixed))
		n.Problems = []string{errs[0].Error()}
		return n, errs[0]
	}
	n.ProvinceCode, n.RegencyCode, n.DistrictCode, n.Serial = fixed[:2], fixed[:4], fixed[:6], fixed[12:]
	if n.Province = provinces[n.ProvinceCode]; n.Province == "" {
		errs = append(errs, fmt.Errorf("%w: %s", ErrNIKProvince, n.ProvinceCode))
	}
	if fixed[2:4] == "00" || fixed[4:6] == "00" || n.Serial == "0000" {
		errs = append(errs, ErrNIKZero)
	}
	d := date{d: atoi(fixed[6:8]), m: atoi(fixed[8:10]), y: atoi(fixed[10:12]), yy: true}
	n.Sex = "M"
	if d.d > 40 {
		d.d -= 40
		n.Sex = "F"
	}
	if d.valid() {
		n.birth = d
		n.BirthDate = d.resolve(pastDate, now).iso()
	} else {
		n.Sex = ""
		errs = append(errs, fmt.Errorf("%w: %s", ErrNIKDate, fixed[6:12]))
	}
	for _, e := range errs {
		n.Problems = append(n.Problems, e.Error())
	}
	n.Valid = len(errs) == 0
	return n, errors.Join(errs...)
}

func atoi(s string) int { return number(token{text: s}) }

// sameBirthDate reports whether the NIK encodes the printed birth date (an
// ISO date): day, month and the year's last two digits.
func (n *NIK) sameBirthDate(iso string) bool {
	var y, m, d int
	if _, err := fmt.Sscanf(iso, "%4d-%2d-%2d", &y, &m, &d); err != nil {
		return false
	}
	return n.birth.d == d && n.birth.m == m && n.birth.y == y%100
}
