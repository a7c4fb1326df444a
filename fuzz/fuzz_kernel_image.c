/* The kernel loader takes files from the user: bzImage headers, compressed payloads
 * and ELF headers must fail cleanly whatever they contain. */
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/kernel_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kernel_image k;
    char err[KERNEL_ERR_LEN];
    if (kernel_image_from_buffer(data, size, &k, err) == 0)
        kernel_image_free(&k);
    return 0;
}
