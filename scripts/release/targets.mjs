// The platforms fdwire ships prebuilt, and where each binary goes in the package.
//
// Addon files are named as node-gyp-build and prebuildify (`--napi --tag-libc`) name them:
// prebuilds/<platform>-<arch>/fdwire[.<libc>].node, so a glibc and a musl system each load their own.
// The rush client is one per platform-arch: on Linux it is linked statically against musl, so the
// same file runs on glibc and musl systems alike (and starts faster than a static glibc one).

/**
 * @typedef {object} Target
 * @property {string} key          name used on the command line and in reports
 * @property {'linux'|'darwin'} platform   process.platform of the machines it serves
 * @property {'x64'|'arm64'} arch   process.arch of the machines it serves
 * @property {'glibc'|'musl'|null} libc
 * @property {string} zigTarget     the addon's `zig c++ -target`
 * @property {string} addon         the addon's path inside the package
 * @property {string|null} rushTarget  the client's `zig cc -target`, or null when another target
 *                                  of the same platform-arch builds it
 * @property {string} rush          the client's path inside the package
 */

const GLIBC = '2.17' // RHEL/CentOS 7, Debian 9, Ubuntu 18.04, Amazon Linux 2 and everything newer
// zig 0.11 carries the macOS 11–13 SDK stubs only, so macOS 11 (Big Sur, 2020) is the floor on both
// CPUs (Node 20 itself still starts on 10.15; Node 23 and later need 11 too).
const MACOS = { x64: '11.0', arm64: '11.0' }

/** @type {Target[]} */
export const TARGETS = [
  linux('x64', 'glibc', `x86_64-linux-gnu.${GLIBC}`, 'x86_64-linux-musl'),
  linux('x64', 'musl', 'x86_64-linux-musl', null),
  linux('arm64', 'glibc', `aarch64-linux-gnu.${GLIBC}`, 'aarch64-linux-musl'),
  linux('arm64', 'musl', 'aarch64-linux-musl', null),
  darwin('x64', `x86_64-macos.${MACOS.x64}`),
  darwin('arm64', `aarch64-macos.${MACOS.arm64}`),
]

function linux(arch, libc, zigTarget, rushTarget) {
  return {
    key: `linux-${arch}-${libc}`,
    platform: 'linux',
    arch,
    libc,
    zigTarget,
    addon: `prebuilds/linux-${arch}/fdwire.${libc}.node`,
    rushTarget,
    rush: `prebuilds/linux-${arch}/rush`,
  }
}

function darwin(arch, zigTarget) {
  return {
    key: `darwin-${arch}`,
    platform: 'darwin',
    arch,
    libc: null,
    zigTarget,
    addon: `prebuilds/darwin-${arch}/fdwire.node`,
    rushTarget: zigTarget,
    rush: `prebuilds/darwin-${arch}/rush`,
  }
}

/** The most GLIBC_x.y any linux prebuild may need. */
export const MAX_GLIBC = GLIBC
