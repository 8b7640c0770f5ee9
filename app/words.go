package app

// words are the operator's texts the Go side writes (the page has its own
// for its labels), in one language: English, or Indonesian with "id".
type words struct{ id bool }

func operatorWords(lang string) words { return words{id: lang == "id"} }

// lookup is key's text, and whether there is one.
func (w words) lookup(key string) (string, bool) {
	t, ok := operatorText[key]
	if !ok {
		return "", false
	}
	if w.id {
		return t[1], true
	}
	return t[0], true
}

// get is key's text, or key itself when there is none (a gap shows, it
// does not hide a fact).
func (w words) get(key string) string {
	if t, ok := w.lookup(key); ok {
		return t
	}
	return key
}

// operatorText is the catalogue: English, Indonesian. What the customer
// reads comes from engine/risk's messages; these are for the operator and
// may name a signal.
var operatorText = map[string][2]string{
	"field.name":            {"Name", "Nama"},
	"field.nik":             {"NIK", "NIK"},
	"field.document_number": {"Document number", "Nomor dokumen"},
	"field.birth_date":      {"Date of birth", "Tanggal lahir"},
	"field.sex":             {"Sex", "Jenis kelamin"},
	"field.address":         {"Address", "Alamat"},
	"field.expiry_date":     {"Valid until", "Berlaku hingga"},
	"source.mrz":            {"read from the MRZ", "dibaca dari MRZ"},
	"source.visual":         {"read from the printed text", "dibaca dari teks tercetak"},
	"source.nik":            {"decoded from the NIK", "diturunkan dari NIK"},
	"source.keyword":        {"read from the printed text", "dibaca dari teks tercetak"},

	"check.authenticity":         {"Document authenticity", "Keaslian dokumen"},
	"check.authenticity.pass":    {"No sign of editing, a screen or a printed copy.", "Tidak ada tanda suntingan, layar, atau salinan cetak."},
	"check.authenticity.warn":    {"Possible editing or reproduction: central's reviewers will look.", "Kemungkinan suntingan atau reproduksi: peninjau pusat akan memeriksa."},
	"check.authenticity.fail":    {"The document is not the physical original or was altered.", "Dokumen bukan fisik asli atau telah diubah."},
	"check.authenticity.not_run": {"Not measured: the document could not be read.", "Tidak diukur: dokumen tidak terbaca."},
	"check.data":                 {"Data consistency", "Konsistensi data"},
	"check.data.pass":            {"Dates, NIK and printed fields agree.", "Tanggal, NIK, dan data tercetak sesuai."},
	"check.data.warn":            {"Some fields disagree with each other: central's reviewers will look.", "Beberapa data tidak saling sesuai: peninjau pusat akan memeriksa."},
	"check.data.fail":            {"The document's data failed its checks.", "Data dokumen gagal diperiksa."},
	"check.data.expired":         {"The document has expired.", "Dokumen sudah kedaluwarsa."},
	"check.data.underage.fail":   {"The holder is under the minimum age, by a birth date the document confirms.", "Pemegang di bawah usia minimum, menurut tanggal lahir yang dikonfirmasi dokumen."},
	"check.data.underage.warn":   {"The holder may be under the minimum age: central's reviewers will check the birth date.", "Pemegang mungkin di bawah usia minimum: peninjau pusat akan memeriksa tanggal lahir."},
	"check.data.not_run":         {"Not measured: no field could be checked.", "Tidak diukur: tidak ada data yang bisa diperiksa."},
	"check.mrz":                  {"MRZ check digits", "Digit periksa MRZ"},
	"check.mrz.pass":             {"Every check digit is correct.", "Semua digit periksa benar."},
	"check.mrz.fail":             {"Only %d%% of the check digits are correct.", "Hanya %d%% digit periksa yang benar."},
	"check.mrz.not_run":          {"This document has no MRZ, or it was not read.", "Dokumen ini tidak memiliki MRZ, atau MRZ tidak terbaca."},
	"check.screening":            {"Sanctions and PEP screening", "Penyaringan sanksi dan PEP"},
	"check.screening.pass":       {"The name is on no watchlist.", "Nama tidak ada di daftar pantauan."},
	"check.screening.warn":       {"A possible watchlist match: compliance will review.", "Kemungkinan cocok dengan daftar pantauan: tim kepatuhan akan meninjau."},
	"check.screening.fail":       {"The name matches a watchlist entry: compliance decides.", "Nama cocok dengan daftar pantauan: tim kepatuhan yang memutuskan."},
	"check.screening.stale":      {"Screened against watchlists too old to trust (see the sync panel): compliance will review.", "Disaring dengan daftar pantauan yang terlalu lama (lihat panel sinkronisasi): tim kepatuhan akan meninjau."},
	"check.screening.not_run":    {"Not screened: no watchlist installed, or no name read.", "Tidak disaring: tidak ada daftar pantauan, atau nama tidak terbaca."},
	"check.device":               {"Device", "Perangkat"},
	"check.device.pass":          {"This device passed its integrity check.", "Perangkat ini lolos pemeriksaan integritas."},
	"check.device.warn":          {"The device check raised a warning.", "Pemeriksaan perangkat memberi peringatan."},
	"check.device.fail":          {"The device check blocks verification here.", "Pemeriksaan perangkat memblokir verifikasi di sini."},
	"check.device.not_run":       {"The device was not checked.", "Perangkat tidak diperiksa."},
	"check.challenge":            {"Liveness challenge", "Tantangan keaktifan"},
	"check.challenge.pass":       {"The customer followed every prompt in time.", "Pelanggan mengikuti semua petunjuk tepat waktu."},
	"check.challenge.fail":       {"The prompts were not followed in time.", "Petunjuk tidak diikuti tepat waktu."},

	"do.approve": {"Verified. Hand back the document and finish.", "Terverifikasi. Kembalikan dokumen dan selesaikan."},
	"say.approve": {"\"Thank you, your identity is verified.\"",
		"\"Terima kasih, identitas Anda sudah terverifikasi.\""},
	"do.status": {"Central's reviewers decide. Give the customer the reference number.",
		"Peninjau pusat yang memutuskan. Berikan nomor referensi kepada pelanggan."},
	"say.status": {"\"We need a little more time to check. You will be told the result; keep this reference.\"",
		"\"Kami perlu sedikit waktu untuk memeriksa. Hasilnya akan diberitahukan; simpan nomor referensi ini.\""},
	"do.refuse": {"Not verified here. Do not open the account; follow the branch procedure.",
		"Tidak terverifikasi di sini. Jangan buka rekening; ikuti prosedur cabang."},
	"say.refuse": {"\"We could not verify your identity today. Please contact us for other ways to verify.\"",
		"\"Kami belum dapat memverifikasi identitas Anda hari ini. Silakan hubungi kami untuk cara verifikasi lain.\""},
	"do.underage": {"The holder is under the minimum age this service admits, by the birth date the document confirms. Do not open the account.",
		"Pemegang di bawah usia minimum layanan ini, menurut tanggal lahir yang dikonfirmasi dokumen. Jangan buka rekening."},
	"say.underage": {"\"We're sorry: this service is open from a minimum age, and we cannot continue today.\"",
		"\"Mohon maaf: layanan ini terbuka mulai usia minimum tertentu, dan kami tidak dapat melanjutkan hari ini.\""},
	"do.retry":  {"Take the capture again.", "Ulangi pengambilan gambar."},
	"say.retry": {"\"Let us take that picture once more.\"", "\"Mari kita ambil gambarnya sekali lagi.\""},

	"retry.document": {"Lay the document flat in good light, fill the frame, and keep it still; avoid glare on the card.",
		"Letakkan dokumen rata di tempat terang, penuhi bingkai, dan jangan bergerak; hindari pantulan cahaya."},
	"retry.selfie": {"Face the camera alone, eyes open, in even light; remove glasses or a hat.",
		"Hadap kamera sendirian, mata terbuka, cahaya merata; lepaskan kacamata atau topi."},
	"retry.all":                         {"Capture the document again, then the selfie.", "Ambil ulang dokumen, lalu swafoto."},
	"retry.new_document":                {"Ask for another identity document.", "Minta dokumen identitas lain."},
	"retry.reason.NO_FACE":              {"No face was found in the selfie.", "Wajah tidak ditemukan di swafoto."},
	"retry.reason.MULTIPLE_FACES":       {"Several faces were in the selfie.", "Ada beberapa wajah di swafoto."},
	"retry.reason.SELFIE_IMAGE_QUALITY": {"The selfie was too dark or blurred.", "Swafoto terlalu gelap atau buram."},
	"retry.reason.DOC_IMAGE_QUALITY":    {"The document photo was not sharp enough to read.", "Foto dokumen kurang tajam untuk dibaca."},
	"retry.reason.FACE_MISMATCH":        {"The selfie did not match the document's portrait.", "Swafoto tidak cocok dengan foto di dokumen."},
}
