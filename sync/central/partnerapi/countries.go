package partnerapi

import "strings"

// iso3166 is ISO 3166-1: each country's alpha-2 code followed by its
// alpha-3 code (from the iso-codes package's iso_3166-1.json, 249 countries).
var iso3166 = strings.Fields(`
ADAND AEARE AFAFG AGATG AIAIA ALALB AMARM AOAGO AQATA ARARG ASASM ATAUT
AUAUS AWABW AXALA AZAZE BABIH BBBRB BDBGD BEBEL BFBFA BGBGR BHBHR BIBDI
BJBEN BLBLM BMBMU BNBRN BOBOL BQBES BRBRA BSBHS BTBTN BVBVT BWBWA BYBLR
BZBLZ CACAN CCCCK CDCOD CFCAF CGCOG CHCHE CICIV CKCOK CLCHL CMCMR CNCHN
COCOL CRCRI CUCUB CVCPV CWCUW CXCXR CYCYP CZCZE DEDEU DJDJI DKDNK DMDMA
DODOM DZDZA ECECU EEEST EGEGY EHESH ERERI ESESP ETETH FIFIN FJFJI FKFLK
FMFSM FOFRO FRFRA GAGAB GBGBR GDGRD GEGEO GFGUF GGGGY GHGHA GIGIB GLGRL
GMGMB GNGIN GPGLP GQGNQ GRGRC GSSGS GTGTM GUGUM GWGNB GYGUY HKHKG HMHMD
HNHND HRHRV HTHTI HUHUN IDIDN IEIRL ILISR IMIMN ININD IOIOT IQIRQ IRIRN
ISISL ITITA JEJEY JMJAM JOJOR JPJPN KEKEN KGKGZ KHKHM KIKIR KMCOM KNKNA
KPPRK KRKOR KWKWT KYCYM KZKAZ LALAO LBLBN LCLCA LILIE LKLKA LRLBR LSLSO
LTLTU LULUX LVLVA LYLBY MAMAR MCMCO MDMDA MEMNE MFMAF MGMDG MHMHL MKMKD
MLMLI MMMMR MNMNG MOMAC MPMNP MQMTQ MRMRT MSMSR MTMLT MUMUS MVMDV MWMWI
MXMEX MYMYS MZMOZ NANAM NCNCL NENER NFNFK NGNGA NINIC NLNLD NONOR NPNPL
NRNRU NUNIU NZNZL OMOMN PAPAN PEPER PFPYF PGPNG PHPHL PKPAK PLPOL PMSPM
PNPCN PRPRI PSPSE PTPRT PWPLW PYPRY QAQAT REREU ROROU RSSRB RURUS RWRWA
SASAU SBSLB SCSYC SDSDN SESWE SGSGP SHSHN SISVN SJSJM SKSVK SLSLE SMSMR
SNSEN SOSOM SRSUR SSSSD STSTP SVSLV SXSXM SYSYR SZSWZ TCTCA TDTCD TFATF
TGTGO THTHA TJTJK TKTKL TLTLS TMTKM TNTUN TOTON TRTUR TTTTO TVTUV TWTWN
TZTZA UAUKR UGUGA UMUMI USUSA UYURY UZUZB VAVAT VCVCT VEVEN VGVGB VIVIR
VNVNM VUVUT WFWLF WSWSM YEYEM YTMYT ZAZAF ZMZMB ZWZWE
`)

var alpha2, alpha3 = func() (map[string]string, map[string]string) {
	a2, a3 := make(map[string]string, len(iso3166)), make(map[string]string, len(iso3166))
	for _, c := range iso3166 {
		a2[c[:2]], a3[c[2:]] = c[2:], c[:2]
	}
	return a2, a3
}()

// normCountry returns an ISO 3166-1 alpha-2 or alpha-3 code in upper case,
// or false if c is neither.
func normCountry(c string) (string, bool) {
	u := strings.ToUpper(c)
	switch len(u) {
	case 2:
		_, ok := alpha2[u]
		return u, ok
	case 3:
		_, ok := alpha3[u]
		return u, ok
	}
	return "", false
}

// CountryAlpha3 returns the ISO 3166-1 alpha-3 code of an alpha-2 or
// alpha-3 code (any case), or false if c is neither: the hosted flow
// compares a session's accepted_countries with the issuing state the
// engine read (alpha-3, as the MRZ gives it) with it.
func CountryAlpha3(c string) (string, bool) {
	u, ok := normCountry(c)
	if !ok {
		return "", false
	}
	if len(u) == 2 {
		return alpha2[u], true
	}
	return u, true
}
