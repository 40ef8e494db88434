/* CPUID with some feature bits cleared, for this process and the threads it starts.
 *
 * ONNX Runtime's MLAS, oneDNN, MKL, torch's cpuinfo and NumPy pick their kernels from
 * CPUID. Linux can make the CPUID instruction fault (arch_prctl(ARCH_SET_CPUID, 0), on CPUs
 * with CPUID faulting: /proc/cpuinfo flag `cpuid_fault`); the kernel then sends SIGSEGV, and
 * this handler answers in the instruction's place: the real values with the bits asked for
 * cleared. Libraries then run the kernels of a CPU without those features, on this CPU's
 * hardware. tools/isa/cpuid.py builds, loads and installs it (`python -m tools.isa --avx2`).
 *
 * Any other SIGSEGV goes to the handler that was there before (Python's faulthandler, or
 * the default action), so a real crash still crashes.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define ARCH_SET_CPUID 0x1012
#define MAX_MASKS 16

struct cpuid_mask {
  uint32_t leaf, subleaf, reg, bits; /* reg: 0 eax, 1 ebx, 2 ecx, 3 edx */
};

static struct cpuid_mask masks[MAX_MASKS];
static int mask_count;
static struct sigaction previous;
static volatile uint64_t emulated;

static void on_segv(int sig, siginfo_t *info, void *context) {
  (void)sig;
  greg_t *r = ((ucontext_t *)context)->uc_mcontext.gregs;
  /* A faulting CPUID is a general-protection fault (SI_KERNEL), never a page fault, so
   * the instruction pointer is readable before its bytes are looked at. */
  const unsigned char *ip = (const unsigned char *)r[REG_RIP];
  if (info->si_code != SI_KERNEL || ip[0] != 0x0F || ip[1] != 0xA2) {
    sigaction(SIGSEGV, &previous, NULL); /* the instruction faults again, there */
    return;
  }
  int saved_errno = errno;
  uint32_t leaf = (uint32_t)r[REG_RAX], subleaf = (uint32_t)r[REG_RCX], v[4];
  syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
  __cpuid_count(leaf, subleaf, v[0], v[1], v[2], v[3]);
  syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
  for (int i = 0; i < mask_count; i++)
    if (masks[i].leaf == leaf && masks[i].subleaf == subleaf) v[masks[i].reg] &= ~masks[i].bits;
  /* CPUID writes the 32-bit registers, which zeroes their upper halves. */
  r[REG_RAX] = v[0];
  r[REG_RBX] = v[1];
  r[REG_RCX] = v[2];
  r[REG_RDX] = v[3];
  r[REG_RIP] += 2;
  emulated++;
  errno = saved_errno;
}

/* 0, or the errno: ENODEV where the CPU (or hypervisor) has no CPUID faulting. */
int cpuid_mask_install(const struct cpuid_mask *wanted, int count) {
  if (count < 0 || count > MAX_MASKS) return EINVAL;
  memcpy(masks, wanted, sizeof(*wanted) * (size_t)count);
  mask_count = count;
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = on_segv;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGSEGV, &action, &previous) != 0) return errno;
  if (syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) != 0) {
    int err = errno;
    sigaction(SIGSEGV, &previous, NULL);
    return err;
  }
  return 0;
}

/* How many CPUID instructions were answered here: 0 means nothing asked, or no mask. */
uint64_t cpuid_mask_emulated(void) { return emulated; }
