package mrz

import "strings"

// isoCountries lists the ISO 3166-1 alpha-3 codes assigned today, each
// followed by a comma so that a lookup can match ",XXX,".
const isoCountries = ",ABW,AFG,AGO,AIA,ALA,ALB,AND,ARE,ARG,ARM,ASM,ATA,ATF,ATG,AUS,AUT,AZE,BDI,BEL,BEN" +
	",BES,BFA,BGD,BGR,BHR,BHS,BIH,BLM,BLR,BLZ,BMU,BOL,BRA,BRB,BRN,BTN,BVT,BWA,CAF,CAN" +
	",CCK,CHE,CHL,CHN,CIV,CMR,COD,COG,COK,COL,COM,CPV,CRI,CUB,CUW,CXR,CYM,CYP,CZE,DEU" +
	",DJI,DMA,DNK,DOM,DZA,ECU,EGY,ERI,ESH,ESP,EST,ETH,FIN,FJI,FLK,FRA,FRO,FSM,GAB,GBR" +
	",GEO,GGY,GHA,GIB,GIN,GLP,GMB,GNB,GNQ,GRC,GRD,GRL,GTM,GUF,GUM,GUY,HKG,HMD,HND,HRV" +
	",HTI,HUN,IDN,IMN,IND,IOT,IRL,IRN,IRQ,ISL,ISR,ITA,JAM,JEY,JOR,JPN,KAZ,KEN,KGZ,KHM" +
	",KIR,KNA,KOR,KWT,LAO,LBN,LBR,LBY,LCA,LIE,LKA,LSO,LTU,LUX,LVA,MAC,MAF,MAR,MCO,MDA" +
	",MDG,MDV,MEX,MHL,MKD,MLI,MLT,MMR,MNE,MNG,MNP,MOZ,MRT,MSR,MTQ,MUS,MWI,MYS,MYT,NAM" +
	",NCL,NER,NFK,NGA,NIC,NIU,NLD,NOR,NPL,NRU,NZL,OMN,PAK,PAN,PCN,PER,PHL,PLW,PNG,POL" +
	",PRI,PRK,PRT,PRY,PSE,PYF,QAT,REU,ROU,RUS,RWA,SAU,SDN,SEN,SGP,SGS,SHN,SJM,SLB,SLE" +
	",SLV,SMR,SOM,SPM,SRB,SSD,STP,SUR,SVK,SVN,SWE,SWZ,SXM,SYC,SYR,TCA,TCD,TGO,THA,TJK" +
	",TKL,TKM,TLS,TON,TTO,TUN,TUR,TUV,TWN,TZA,UGA,UKR,UMI,URY,USA,UZB,VAT,VCT,VEN,VGB" +
	",VIR,VNM,VUT,WLF,WSM,YEM,ZAF,ZMB,ZWE,"

// icaoOnlyCodes are the codes ICAO 9303 Part 3 adds to ISO 3166-1, written
// as they appear in an MRZ (fillers included):
//   - D<< Germany; GBD, GBN, GBO, GBP, GBS British nationals of other kinds;
//   - UNO, UNA, UNK United Nations documents (UNK: resident of Kosovo);
//   - XBA, XIM, XCC, XCE, XCO, XEC, XPO, XES, XMP, XOM, XDC issuing
//     organisations (African Development Bank ... SADC);
//   - XXA stateless, XXB refugee (1951 Convention), XXC refugee (other),
//     XXX unspecified nationality;
//   - EUE European Union; UTO the fictional Utopia of the ICAO specimens.
//
// RKS is not in the ICAO list but Kosovo prints it in its passports.
const icaoOnlyCodes = ",D<<,GBD,GBN,GBO,GBP,GBS,UNO,UNA,UNK,XBA,XIM,XCC,XCE,XCO,XEC,XPO,XES,XMP,XOM,XDC,XXA,XXB,XXC,XXX,EUE,UTO,RKS,"

// KnownCountry reports whether code is a country or organisation code an
// ICAO 9303 document may carry. It takes the code as printed ("UTO", "D<<")
// or with its fillers stripped ("D").
func KnownCountry(code string) bool {
	if len(code) == 0 || len(code) > 3 || strings.ContainsRune(code, ',') {
		return false
	}
	key := "," + code + strings.Repeat("<", 3-len(code)) + ","
	return strings.Contains(isoCountries, key) || strings.Contains(icaoOnlyCodes, key)
}
