package fields

import (
	"image"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/document/mrz"
)

// Rectified sizes: an ID-1 card (85.6 x 54 mm) and a passport data page
// (125 x 88 mm).
var (
	cardSize = image.Pt(1000, 630)
	pageSize = image.Pt(1250, 880)
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func ln(text string, x0, y0, x1, y1 int) Line {
	return Line{Text: text, Box: image.Rect(x0, y0, x1, y1), Conf: 0.95}
}

// ktpClean is an e-KTP as an OCR reads a sharp photo: labels and values in
// separate boxes, laid out as on the card (photo on the right, issuing city
// and date under it).
func ktpClean() []Line {
	return []Line{
		ln("PROVINSI DKI JAKARTA", 300, 20, 700, 55),
		ln("KOTA JAKARTA SELATAN", 310, 60, 690, 95),
		ln("NIK", 30, 110, 110, 150),
		ln(": 3171011708900001", 200, 108, 640, 152),
		ln("Nama", 30, 165, 110, 195),
		ln(": BUDI SANTOSO", 200, 165, 520, 195),
		ln("Tempat/Tgl Lahir", 30, 200, 190, 230),
		ln(": JAKARTA, 17-08-1990", 200, 200, 520, 230),
		ln("Jenis Kelamin", 30, 235, 170, 265),
		ln(": LAKI-LAKI", 200, 235, 330, 265),
		ln("Gol. Darah : O", 420, 235, 600, 265),
		ln("Alamat", 30, 270, 110, 300),
		ln(": JL. MERDEKA NO. 10", 200, 270, 500, 300),
		ln("RT/RW", 60, 305, 150, 335),
		ln(": 001/002", 200, 305, 300, 335),
		ln("Kel/Desa", 60, 340, 160, 370),
		ln(": SENAYAN", 200, 340, 360, 370),
		ln("Kecamatan", 60, 375, 180, 405),
		ln(": KEBAYORAN BARU", 200, 375, 450, 405),
		ln("Agama", 30, 410, 110, 440),
		ln(": ISLAM", 200, 410, 300, 440),
		ln("Status Perkawinan", 30, 445, 200, 475),
		ln(": BELUM KAWIN", 200, 445, 380, 475),
		ln("Pekerjaan", 30, 480, 140, 510),
		ln(": KARYAWAN SWASTA", 200, 480, 460, 510),
		ln("JAKARTA SELATAN", 740, 480, 960, 505),
		ln("Kewarganegaraan", 30, 515, 190, 545),
		ln(": WNI", 200, 515, 270, 545),
		ln("12-08-2016", 780, 512, 920, 537),
		ln("Berlaku Hingga", 30, 550, 180, 580),
		ln(": SEUMUR HIDUP", 200, 550, 400, 580),
	}
}

// ktpNoisy is a woman's e-KTP read from a worse photo: label and value in
// one box, colons missing or read as ';' and '.', letters in the NIK, and
// the usual l/I, rn/m and 1/I confusions.
func ktpNoisy() []Line {
	return []Line{
		ln("PR0VINSI JAWA BARAT", 300, 22, 700, 55),
		ln("KABUPATEN BANDUNG", 310, 62, 690, 95),
		ln("NIK ; 3204O2571l92OO13", 30, 110, 640, 150),
		ln("Nama  SITI NURHALIZA", 30, 165, 520, 195),
		ln("Tempat/Tgl Lahlr . BANDUNG. 17-11-1992", 30, 200, 560, 230),
		ln("Jenis Kelamln : PEREMPUAN  Gol Darah ; AB", 30, 235, 640, 265),
		ln("Alamat : KP. CIBIRU RT 3", 30, 270, 500, 300),
		ln("RT/RW 003/O11", 60, 305, 300, 335),
		ln("Kel/Desa : CIBIRU WETAN", 60, 340, 420, 370),
		ln("Kecamatan : CILEUNYI", 60, 375, 420, 405),
		ln("Agama ; lSLAM", 30, 410, 300, 440),
		ln("Status Perkawlnan KAWlN", 30, 445, 380, 475),
		ln("Pekerjaan : MENGURUS RUMAH TANGGA", 30, 480, 600, 510),
		ln("Kewarganegaraan. WN1", 30, 515, 300, 545),
		ln("Berlaku Hingga : 17-11-2017", 30, 550, 400, 580),
	}
}

// passportLines is the ICAO 9303 specimen data page (Utopia, Anna Maria
// Eriksson): bilingual labels with their values under them.
func passportLines() []Line {
	return []Line{
		ln("UTOPIA", 500, 20, 700, 55),
		ln("PASSPORT/PASSEPORT", 420, 60, 800, 90),
		ln("Type/Type", 380, 100, 470, 120),
		ln("Code/Code", 520, 100, 620, 120),
		ln("Passport No./N° de passeport", 700, 100, 1000, 120),
		ln("P", 380, 125, 400, 160),
		ln("UTO", 520, 125, 580, 160),
		ln("L898902C3", 700, 125, 880, 160),
		ln("Surname/Nom", 380, 170, 520, 190),
		ln("ERIKSSON", 380, 195, 560, 230),
		ln("Given names/Prénoms", 380, 240, 600, 260),
		ln("ANNA MARIA", 380, 265, 600, 300),
		ln("Nationality/Nationalité", 380, 310, 620, 330),
		ln("UTOPIAN", 380, 335, 540, 370),
		ln("Date of birth/Date de naissance", 380, 380, 720, 400),
		ln("12 AUG/AOÛT 74", 380, 405, 640, 440),
		ln("Sex/Sexe", 380, 450, 460, 470),
		ln("Place of birth/Lieu de naissance", 520, 450, 840, 470),
		ln("F", 380, 475, 400, 510),
		ln("ZENITH", 520, 475, 660, 510),
		ln("Date of issue/Date de délivrance", 380, 520, 720, 540),
		ln("16 APR/AVR 07", 380, 545, 620, 580),
		ln("Date of expiry/Date d'expiration", 380, 590, 720, 610),
		ln("15 APR/AVR 12", 380, 615, 620, 650),
		ln("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", 40, 750, 1210, 790),
		ln("L898902C36UTO7408122F1204159ZE184226B<<<<<10", 40, 800, 1210, 840),
	}
}

// specimenMRZ parses the specimen's zone as it stood in 2010.
func specimenMRZ(t testing.TB, now time.Time) *mrz.Result {
	t.Helper()
	m, err := mrz.Parse([]string{
		"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
		"L898902C36UTO7408122F1204159ZE184226B<<<<<10",
	}, now)
	if err != nil {
		t.Fatalf("parsing the specimen MRZ: %v", err)
	}
	return m
}

// withText returns lines with the text of the line reading old replaced.
func withText(t *testing.T, lines []Line, old, text string) []Line {
	t.Helper()
	out := append([]Line(nil), lines...)
	for i := range out {
		if out[i].Text == old {
			out[i].Text = text
			return out
		}
	}
	t.Fatalf("no line %q", old)
	return nil
}
