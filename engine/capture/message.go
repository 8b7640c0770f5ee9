package capture

import "fmt"

// Message is the one instruction shown for a frame. Keys are stable: the UI
// and logs use them; Text localises them.
type Message string

// Document messages, in precedence order: the first whose condition holds
// is the frame's message. The document must first be there and square to
// the guide before its size means anything, and it must be lit before
// glare, edges or sharpness can be judged.
const (
	MoveIntoFrame     Message = "move_into_frame"    // no document found
	AlignDocument     Message = "align_document"     // turned or tilted more than the limit
	MoveCloser        Message = "move_closer"        // too small in the frame
	MoveBack          Message = "move_back"          // too large in the frame
	ImproveLighting   Message = "improve_lighting"   // too dark, or highlights clipped across it
	ReduceGlare       Message = "reduce_glare"       // too much of it is blown out
	RemoveObstruction Message = "remove_obstruction" // part of its outline is covered
	HoldSteady        Message = "hold_steady"        // blurred or moving
	Capturing         Message = "capturing"          // every check passes; the stable window is filling
	// FlipDocument asks for the other side once the first is captured.
	FlipDocument Message = "flip_document"
)

// Document hints (Overlay.Hint): advice shown beside the message, never
// holding the capture back.
const (
	BrightLighting Message = "bright_lighting" // brighter than advised, nothing clipped
	DimLighting    Message = "dim_lighting"    // darker than advised, not too dark
)

// Selfie hint (Overlay.Hint, beside NoFace): a face is found only in the
// frame turned by a quarter, so the camera is held sideways.
const HoldUpright Message = "hold_upright"

// Selfie messages, in precedence order (MoveCloser, MoveBack, ImproveLighting,
// HoldSteady and Capturing are shared with documents and sit where listed):
// NoFace, MultipleFaces, MoveCloser, MoveBack, CenterFace, ImproveLighting,
// RemoveCovering, FaceCamera, OpenEyes, HoldSteady, then the current
// challenge's prompt, then Capturing.
const (
	NoFace         Message = "no_face"         // position your face in the oval
	MultipleFaces  Message = "multiple_faces"  // only one face should be visible
	CenterFace     Message = "center_face"     // the face is off the oval
	RemoveCovering Message = "remove_covering" // sunglasses, mask or hand over the face
	FaceCamera     Message = "face_camera"     // head turned or tilted
	OpenEyes       Message = "open_eyes"       // eyes closed
	TurnLeft       Message = "turn_left"       // challenge: turn your head to your left
	TurnRight      Message = "turn_right"      // challenge: turn your head to your right
	Blink          Message = "blink"           // challenge: blink
	Smile          Message = "smile"           // challenge: smile
	Done           Message = "done"            // everything is captured
)

// Lang is a UI language.
type Lang string

// Supported languages.
const (
	English    Lang = "en"
	Indonesian Lang = "id"
)

var texts = map[Message][2]string{
	MoveIntoFrame:     {"Move the document into the frame", "Arahkan dokumen ke dalam bingkai"},
	AlignDocument:     {"Align the document with the rectangle", "Sejajarkan dokumen dengan persegi panjang"},
	MoveCloser:        {"Move closer", "Dekatkan kamera"},
	MoveBack:          {"Move back", "Jauhkan kamera"},
	ImproveLighting:   {"Improve the lighting", "Perbaiki pencahayaan"},
	BrightLighting:    {"Bright lighting: avoid direct light if the text fades", "Pencahayaan terang: hindari cahaya langsung jika tulisan memudar"},
	DimLighting:       {"Dim lighting: more light gives a clearer picture", "Pencahayaan redup: tambah cahaya agar gambar lebih jelas"},
	HoldUpright:       {"Hold the camera upright", "Pegang kamera dalam posisi tegak"},
	ReduceGlare:       {"Reduce glare", "Kurangi pantulan cahaya"},
	RemoveObstruction: {"Remove what covers the document", "Singkirkan benda yang menutupi dokumen"},
	HoldSteady:        {"Hold steady", "Tahan agar tidak bergerak"},
	Capturing:         {"Capturing…", "Mengambil gambar…"},
	FlipDocument:      {"Turn the document over", "Balikkan dokumen"},
	NoFace:            {"Position your face in the oval", "Posisikan wajah Anda di dalam oval"},
	MultipleFaces:     {"Only one face should be visible", "Hanya satu wajah yang boleh terlihat"},
	CenterFace:        {"Center your face in the oval", "Letakkan wajah Anda di tengah oval"},
	RemoveCovering:    {"Remove sunglasses, mask or anything covering your face", "Lepaskan kacamata hitam, masker, atau apa pun yang menutupi wajah"},
	FaceCamera:        {"Face the camera directly", "Hadapkan wajah langsung ke kamera"},
	OpenEyes:          {"Keep your eyes open", "Buka mata Anda"},
	TurnLeft:          {"Turn your head to the left", "Tolehkan kepala ke kiri"},
	TurnRight:         {"Turn your head to the right", "Tolehkan kepala ke kanan"},
	Blink:             {"Blink", "Kedipkan mata"},
	Smile:             {"Smile", "Tersenyumlah"},
	Done:              {"Done", "Selesai"},
}

// ParseLang accepts "en" or "id".
func ParseLang(s string) (Lang, error) {
	switch Lang(s) {
	case English, Indonesian:
		return Lang(s), nil
	}
	return "", fmt.Errorf("unsupported language %q (want en or id)", s)
}

// Text is the message in lang (English for an unknown language); an unknown
// message gives its key.
func (m Message) Text(lang Lang) string {
	t, ok := texts[m]
	if !ok {
		return string(m)
	}
	if lang == Indonesian {
		return t[1]
	}
	return t[0]
}
