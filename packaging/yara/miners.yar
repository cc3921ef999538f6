// SPDX-License-Identifier: GPL-2.0-only
// mxwatch's shipped rules: which cryptominer an executable is. They never
// trigger an alert (the rounding-mode evidence does); a match names the
// software in the alert (ECS threat.software.name, OCSF unmapped.mxwatch.yara).
// Compiled into mxwatch; add your own with --yara-rules FILE. Each rule needs
// several strings a miner's binary carries (banners, option help, pool URLs),
// so a program that merely mentions one of them does not match. The `software`
// meta is what the alert shows; a rule with `generic = true` is shown only when
// no other rule matches.

rule mxwatch_xmrig
{
	meta:
		software = "XMRig"
		description = "XMRig or a fork (banner, donation option, RandomX/CryptoNight algorithm names)"
	strings:
		$name = "xmrig" ascii wide nocase
		$donate = "donate-level" ascii
		$donate_over_proxy = "donate-over-proxy" ascii
		$rx = "rx/0" ascii
		$rx_wow = "rx/wow" ascii
		$cn = "cn/r" ascii
		$stratum = "stratum+tcp://" ascii
		$nicehash = "nicehash" ascii nocase
		$about = " * ABOUT" ascii
	condition:
		$name and 3 of ($donate, $donate_over_proxy, $rx, $rx_wow, $cn, $stratum, $nicehash, $about)
}

rule mxwatch_xmr_stak
{
	meta:
		software = "xmr-stak"
		description = "xmr-stak, xmr-stak-rx and their forks"
	strings:
		$name = "xmr-stak" ascii nocase
		$pool = "pool_address" ascii
		$wallet = "wallet_address" ascii
		$rig = "rig_id" ascii
		$cn = "cryptonight" ascii nocase
	condition:
		$name and 2 of ($pool, $wallet, $rig, $cn)
}

rule mxwatch_cpuminer
{
	meta:
		software = "cpuminer"
		description = "cpuminer, cpuminer-multi, cpuminer-opt (minerd): usage text and stratum client"
	strings:
		$name1 = "cpuminer" ascii nocase
		$name2 = "minerd" ascii
		$algo = "--algo=ALGO" ascii
		$url = "--url=URL" ascii
		$stratum = "stratum+tcp://" ascii
		$userpass = "--userpass=U:P" ascii
	condition:
		any of ($name*) and 2 of ($algo, $url, $stratum, $userpass)
}

rule mxwatch_monero_wallet_and_pool_login
{
	meta:
		software = "unknown Monero miner"
		generic = true // left out of the alert when a rule naming the software matches too
		description = "a stratum login with a Monero wallet argument and a RandomX algorithm list, as XMRig-compatible miners send"
	strings:
		$login = "\"method\":\"login\"" ascii
		$agent = "\"agent\":" ascii
		$algo = "\"algo\":[" ascii
		$rx = "rx/0" ascii
	condition:
		all of them
}
