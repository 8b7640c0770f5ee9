package testenv

// Recognizer is a text recogniser in the model store, by the store names
// of its model and keys; Height is its input height (0: the default).
type Recognizer struct {
	Name, Model, Keys string
	Height            int
}

// Recognizers are the text recognisers at hand, for the comparisons of
// engine/ocr (TestRecognizers) and engine/document/mrzread
// (TestMRZReaders); the product's choice is internal/engines.OCRConfig.
func Recognizers() []Recognizer {
	return []Recognizer{
		{"ch-v4", "ppocr-rec", "ppocr-keys", 0},
		{"en-v3", "ppocr-rec-en-v3", "ppocr-keys-en", 0},
		{"en-v4", "ppocr-rec-en-v4", "ppocr-keys-en", 0},
		{"en-number", "ppocr-rec-en-number", "ppocr-keys-en", 32},
	}
}
