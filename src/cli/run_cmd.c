/* viridian run: check the input, then the host, then boot. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/e820.h"
#include "arch/x86/kernel_image.h"
#include "core/vm_net.h"
#include "core/vm_storage.h"
#include "cli/commands.h"
#include "cli/run_options.h"
#include "core/control.h"
#include "core/kvm_host.h"
#include "core/log.h"
#include "core/size.h"
#include "core/vm.h"

static int read_initrd(const char *path, uint64_t memory, uint8_t **data, size_t *size)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        vlog_error("initrd %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        vlog_error("initrd %s: not a regular file", path);
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size >= ram_layout_for(memory).low_end) {
        char have[32];
        size_format(memory, have, sizeof(have));
        vlog_error("initrd %s (%lld bytes) does not fit in the guest's %s of memory; "
                   "use a larger --memory", path, (long long)st.st_size, have);
        close(fd);
        return -1;
    }
    *size = (size_t)st.st_size;
    *data = malloc(*size ? *size : 1);
    size_t got = 0;
    while (*data && got < *size) {
        ssize_t n = read(fd, *data + got, *size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!*data || got != *size) {
        vlog_error("initrd %s: cannot read it", path);
        free(*data);
        *data = NULL;
        return -1;
    }
    return 0;
}

static int exit_status_for(enum vm_stop_reason why)
{
    switch (why) {
    case VM_STOP_POWEROFF: return RUN_EXIT_POWEROFF;
    case VM_STOP_RESET: return RUN_EXIT_REBOOT;
    case VM_STOP_TRIPLE_FAULT: return RUN_EXIT_TRIPLE_FAULT;
    case VM_STOP_GUEST_ERROR: return RUN_EXIT_GUEST_ERROR;
    case VM_STOP_HOST: return RUN_EXIT_STOPPED;
    default: return RUN_EXIT_FAILURE;
    }
}

int cli_run(int argc, char **argv)
{
    struct vm_config cfg;
    struct kernel_image kernel;
    char err[512];
    uint8_t *initrd = NULL;
    int kvm_fd = -1, status;

    int rc = run_options_parse(argc, argv, &cfg, err, sizeof(err));
    if (rc == 1) {
        fputs(run_usage, stdout);
        return 0;
    }
    if (rc < 0) {
        vlog_error("run: %s", err);
        return RUN_EXIT_USAGE;
    }

    /* Input first: a bad file is reported as such on any host. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (kernel_image_load_file(cfg.kernel, &kernel, err) < 0) {
        vlog_error("%s", err);
        return RUN_EXIT_USAGE;
    }
    cfg.kernel_image = &kernel;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    vlog_debug("kernel %s loaded (%s, %zu bytes unpacked) in %ld ms", cfg.kernel,
               kernel_compression_name(kernel.bz.compression), kernel.elf_size,
               (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
    if (kernel.info.highest > ram_layout_for(cfg.memory).low_end) {
        vlog_error("kernel %s needs %llu MiB of guest memory to load; use a larger --memory",
                   cfg.kernel, (unsigned long long)(kernel.info.highest >> 20) + 1);
        status = RUN_EXIT_USAGE;
        goto out;
    }
    if (cfg.initrd && read_initrd(cfg.initrd, cfg.memory, &initrd, &cfg.initrd_size) < 0) {
        status = RUN_EXIT_USAGE;
        goto out;
    }
    cfg.initrd_data = initrd;
    if (vm_net_check(&cfg, err, sizeof(err)) < 0 || vm_storage_open(&cfg, err, sizeof(err)) < 0) {
        vlog_error("%s", err);
        status = RUN_EXIT_USAGE;
        goto out;
    }

    if (kvm_host_check(&kvm_fd, err, sizeof(err)) != KVM_HOST_OK) {
        vlog_error("%s", err);
        status = RUN_EXIT_HOST;
        goto out;
    }
    /* the switch ports: after the KVM check, so a host that cannot run VMs gets none */
    if (vm_net_open(&cfg, err, sizeof(err)) < 0) {
        vlog_error("%s", err);
        status = RUN_EXIT_USAGE;
        goto out;
    }
    int max_cpus = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (max_cpus <= 0)
        max_cpus = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    if (max_cpus > 0 && cfg.cpus > max_cpus) {
        vlog_error("--cpus %d: this host's KVM allows at most %d", cfg.cpus, max_cpus);
        status = RUN_EXIT_USAGE;
        goto out;
    }

    struct console console;
    if (console_open(&console, cfg.console, err, sizeof(err)) < 0) {
        vlog_error("%s", err);
        status = RUN_EXIT_USAGE;
        goto out;
    }
    struct control_server control;
    char path[256];
    if (cfg.control)
        snprintf(path, sizeof(path), "%s", cfg.control);
    else
        control_socket_path(cfg.name, path, sizeof(path));
    if (control_start(&control, cfg.name, path, err, sizeof(err)) < 0) {
        vlog_error("%s", err);
        console_close(&console);
        status = RUN_EXIT_USAGE;
        goto out;
    }
    status = exit_status_for(vm_run_config(kvm_fd, &cfg, &console, &control));
    control_stop(&control);
    console_close(&console);
out:
    if (kvm_fd >= 0)
        close(kvm_fd);
    vm_net_close(&cfg);
    vm_storage_close(&cfg);
    free(initrd);
    kernel_image_free(&kernel);
    return status;
}
