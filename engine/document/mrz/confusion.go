package mrz

// OCR-B characters that OCR engines confuse with each other. A letter in a
// numeric field or a digit in an alphabetic field is certainly wrong, so
// there the mapping is applied outright; in alphanumeric fields (document
// numbers, optional data) both readings are legal and only a check digit
// can pick one (see parser.repairByCheck).

// letterToDigit returns the digit a letter is usually misread for, or 0.
func letterToDigit(c byte) byte {
	switch c {
	case 'O', 'D', 'Q':
		return '0'
	case 'I', 'L':
		return '1'
	case 'Z':
		return '2'
	case 'A':
		return '4'
	case 'S':
		return '5'
	case 'G':
		return '6'
	case 'B':
		return '8'
	}
	return 0
}

// digitToLetter returns the letter a digit is usually misread for, or 0.
func digitToLetter(c byte) byte {
	switch c {
	case '0':
		return 'O'
	case '1':
		return 'I'
	case '2':
		return 'Z'
	case '4':
		return 'A'
	case '5':
		return 'S'
	case '6':
		return 'G'
	case '8':
		return 'B'
	}
	return 0
}

// alternative returns the other reading of c in an alphanumeric field, or 0.
func alternative(c byte) byte {
	if d := letterToDigit(c); d != 0 {
		return d
	}
	return digitToLetter(c)
}
