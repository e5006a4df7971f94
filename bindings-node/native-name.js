'use strict'
// The file name of the native addon for this platform, as `napi build --platform` names it.
function binaryName() {
  const { platform, arch } = process
  let abi = ''
  if (platform === 'linux') {
    const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null
    const glibc = report && report.header && report.header.glibcVersionRuntime
    abi = glibc ? '-gnu' : '-musl'
    if (arch === 'arm') abi += 'eabihf'
  } else if (platform === 'win32') {
    abi = '-msvc'
  }
  return `legato.${platform}-${arch}${abi}.node`
}
module.exports = { binaryName }
