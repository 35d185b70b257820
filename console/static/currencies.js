// The number of minor-unit digits of each currency the server knows, as
// the server converts amounts with them (package money, ISO 4217 as
// golang.org/x/text has it and the codes ISO added since). The browser's
// own table (Intl, from CLDR) differs for some currencies, and an amount
// shown with another exponent than the server's is off by a factor of a
// hundred; a Go test keeps this table equal to the server's.

const EXPONENTS = {
  0: 'ADP AFN ALL AMD BIF BYR CLP COP DJF ESP GNF GYD IDR IQD IRR ISK ITL JPY KMF KPW KRW LAK LBP LUF MGA MGF MMK MNT MRO MUR PKR PYG RSD RWF SLL SOS STD SYP TMM TRL TZS UGX UYI UZS VND VUV XAF XOF XPF YER ZMK ZWD',
  2: 'AED AFA ALK ANG AOA AOK AON AOR ARA ARL ARM ARP ARS ATS AUD AWG AZM AZN BAD BAM BAN BBD BDT BEC BEF BEL BGL BGM BGN BGO BMD BND BOB BOL BOP BOV BRB BRC BRE BRL BRN BRR BRZ BSD BTN BUK BWP BYB BYN BZD CAD CDF CHE CHF CHW CLE CNH CNX CNY COU CRC CSD CSK CUC CUP CVE CYP CZK DDM DEM DKK DOP DZD ECS ECV EEK EGP ERN ESA ESB ETB EUR FIM FJD FKP FRF GBP GEK GEL GHC GHS GIP GMD GNS GQE GRD GTQ GWE GWP HKD HNL HRD HRK HTG HUF IEP ILP ILR ILS INR ISJ JMD KES KGS KHR KRH KRO KYD KZT LKR LRD LSL LTL LTT LUC LUL LVL LVR MAD MAF MCF MDC MDL MKD MKN MLF MOP MRU MTL MTP MVP MVR MWK MXN MXP MXV MYR MZE MZM MZN NAD NGN NIC NIO NLG NOK NPR NZD PAB PEI PEN PES PGK PHP PLN PLZ PTE QAR RHD ROL RON RUB RUR SAR SBD SCR SDD SDG SDP SEK SGD SHP SIT SKK SLE SRD SRG SSP STN SUR SVC SZL THB TJR TJS TMT TOP TPE TRY TTD TWD UAH UAK UGS USD USN USS UYP UYU VEB VED VEF VES VNN WST XAG XAU XBA XBB XBC XBD XCD XCG XDR XEU XFO XFU XPD XPT XRE XSU XTS XUA XXX YDD YUD YUM YUN YUR ZAL ZAR ZMW ZRN ZRZ ZWG ZWL ZWR',
  3: 'BHD JOD KWD LYD OMR TND',
  4: 'CLF UYW',
};

const byCode = new Map(Object.entries(EXPONENTS).flatMap(([e, codes]) => codes.split(' ').map((c) => [c, Number(e)])));

// exponent is the currency's number of minor-unit digits, or null for a
// code the server does not know.
export const exponent = (code) => byCode.get(String(code || '').toUpperCase()) ?? null;
