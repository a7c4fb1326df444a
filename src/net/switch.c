/* Virtual switch definitions (JSON files) and their bridges (rtnetlink). */
#include "net/switch.h"

#include "net/rtnl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(int ret, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(int ret, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return ret;
}

/* Netlink errors the user can act on, in words. */
static const char *net_errstr(int ret)
{
    if (ret == -EPERM || ret == -EACCES)
        return "permission denied (needs root or CAP_NET_ADMIN)";
    return strerror(-ret);
}

int vswitch_name_check(const char *name, char *err, size_t errlen)
{
    size_t len = strlen(name);
    if (len == 0)
        return fail(-EINVAL, err, errlen, "switch name is empty");
    if (len > VSWITCH_NAME_MAX)
        return fail(-ENAMETOOLONG, err, errlen,
                    "switch name '%s' is too long (%zu characters; at most %d so that "
                    "its bridge name fits in IFNAMSIZ)", name, len, VSWITCH_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return fail(-EINVAL, err, errlen,
                        "switch name '%s' has character '%c'; use letters, digits, '_' and '-'",
                        name, c);
    }
    if (name[0] == '-')
        return fail(-EINVAL, err, errlen, "switch name '%s' starts with '-'", name);
    return 0;
}

static const char *const type_names[] = {
    [VSWITCH_EXTERNAL] = "external", [VSWITCH_INTERNAL] = "internal",
    [VSWITCH_PRIVATE] = "private",
};

const char *vswitch_type_name(enum vswitch_type t)
{
    return (unsigned)t < 3 ? type_names[t] : "?";
}

int vswitch_type_parse(const char *s, enum vswitch_type *t)
{
    for (unsigned i = 0; i < 3; i++)
        if (!strcmp(s, type_names[i])) {
            *t = (enum vswitch_type)i;
            return 0;
        }
    return -EINVAL;
}

void vswitch_bridge_name(const struct vswitch *sw, char out[IFNAMSIZ])
{
    if (sw->type == VSWITCH_INTERNAL)
        snprintf(out, IFNAMSIZ, "%s", sw->name);
    else
        snprintf(out, IFNAMSIZ, "vs-%s", sw->name);
}

int vswitch_state_dir(char *out, size_t outlen)
{
    const char *base = getenv("VIRIDIAN_STATE_DIR");
    if (!base || !*base)
        base = "/var/lib/viridian";
    int n = snprintf(out, outlen, "%s/switches", base);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static int def_path(const char *name, char *out, size_t outlen)
{
    char dir[4096];
    int ret = vswitch_state_dir(dir, sizeof(dir));
    if (ret)
        return ret;
    int n = snprintf(out, outlen, "%s/%s.json", dir, name);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

char *vswitch_to_json(const struct vswitch *sw)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(sw->name));
    json_object_object_add(o, "type", json_object_new_string(vswitch_type_name(sw->type)));
    if (sw->type == VSWITCH_EXTERNAL)
        json_object_object_add(o, "nic", json_object_new_string(sw->nic));
    char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
    json_object_put(o);
    return s;
}

static const char *json_str(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

int vswitch_from_json(const char *text, struct vswitch *sw, char *err, size_t errlen)
{
    memset(sw, 0, sizeof(*sw));
    struct json_object *o = json_tokener_parse(text);
    int ret = 0;
    if (!o || !json_object_is_type(o, json_type_object)) {
        ret = fail(-EINVAL, err, errlen, "switch definition is not a JSON object");
        goto out;
    }
    const char *name = json_str(o, "name"), *type = json_str(o, "type"), *nic = json_str(o, "nic");
    if (!name || !type) {
        ret = fail(-EINVAL, err, errlen, "switch definition lacks \"name\" or \"type\"");
        goto out;
    }
    if ((ret = vswitch_name_check(name, err, errlen)))
        goto out;
    snprintf(sw->name, sizeof(sw->name), "%s", name);
    if (vswitch_type_parse(type, &sw->type)) {
        ret = fail(-EINVAL, err, errlen, "switch '%s' has unknown type '%s'", name, type);
        goto out;
    }
    if (sw->type == VSWITCH_EXTERNAL) {
        if (!nic || !*nic || strlen(nic) >= IFNAMSIZ || strchr(nic, '/')) {
            ret = fail(-EINVAL, err, errlen, "external switch '%s' lacks a valid \"nic\"", name);
            goto out;
        }
        snprintf(sw->nic, sizeof(sw->nic), "%s", nic);
    }
out:
    json_object_put(o);
    return ret;
}

static int read_text(const char *path, char **out)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    char *buf = malloc(65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    fclose(f);
    if (!buf)
        return -ENOMEM;
    buf[n] = 0;
    *out = buf;
    return 0;
}

int vswitch_load(const char *name, struct vswitch *sw, char *err, size_t errlen)
{
    char path[4200];
    int ret = vswitch_name_check(name, err, errlen);
    if (ret)
        return ret;
    if ((ret = def_path(name, path, sizeof(path))))
        return fail(ret, err, errlen, "state directory path too long");
    char *text = NULL;
    if ((ret = read_text(path, &text)))
        return fail(ret, err, errlen, ret == -ENOENT ? "no switch named '%s'" : "cannot read %s: %s",
                    ret == -ENOENT ? name : path, strerror(-ret));
    ret = vswitch_from_json(text, sw, err, errlen);
    free(text);
    if (!ret && strcmp(sw->name, name))
        ret = fail(-EINVAL, err, errlen, "%s names switch '%s'", path, sw->name);
    return ret;
}

static int mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0755) && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    return mkdir(buf, 0755) && errno != EEXIST ? -errno : 0;
}

/* Written to a temporary file and renamed, so a crash never leaves half a file. */
static int save_def(const struct vswitch *sw, char *err, size_t errlen)
{
    char dir[4096], path[4200], tmp[4300];
    int ret = vswitch_state_dir(dir, sizeof(dir));
    if (!ret)
        ret = mkdirs(dir);
    if (ret)
        return fail(ret, err, errlen, "cannot create state directory %s: %s", dir, strerror(-ret));
    def_path(sw->name, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    char *text = vswitch_to_json(sw);
    FILE *f = text ? fopen(tmp, "we") : NULL;
    if (!f) {
        ret = text ? -errno : -ENOMEM;
        free(text);
        return fail(ret, err, errlen, "cannot write %s: %s", tmp, strerror(-ret));
    }
    int ok = fprintf(f, "%s\n", text) > 0;
    ok &= fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    free(text);
    if (!ok || rename(tmp, path)) {
        ret = -errno;
        unlink(tmp);
        return fail(ret, err, errlen, "cannot write %s: %s", path, strerror(-ret));
    }
    return 0;
}

static int cmp_switch(const void *a, const void *b)
{
    return strcmp(((const struct vswitch *)a)->name, ((const struct vswitch *)b)->name);
}

int vswitch_list(struct vswitch **out, size_t *n, char *err, size_t errlen)
{
    char dir[4096];
    *out = NULL;
    *n = 0;
    vswitch_state_dir(dir, sizeof(dir));
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : fail(-errno, err, errlen, "cannot read %s: %s", dir, strerror(errno));
    struct vswitch *v = NULL;
    size_t cnt = 0;
    struct dirent *e;
    int ret = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || strcmp(e->d_name + len - 5, ".json"))
            continue;
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(len - 5), e->d_name);
        struct vswitch sw;
        char lerr[256];
        if (vswitch_load(name, &sw, lerr, sizeof(lerr)))
            continue; /* a stray or broken file is not a switch */
        struct vswitch *nv = realloc(v, (cnt + 1) * sizeof(*v));
        if (!nv) {
            ret = fail(-ENOMEM, err, errlen, "out of memory");
            break;
        }
        v = nv;
        v[cnt++] = sw;
    }
    closedir(d);
    if (ret) {
        free(v);
        return ret;
    }
    if (cnt)
        qsort(v, cnt, sizeof(*v), cmp_switch);
    *out = v;
    *n = cnt;
    return 0;
}

/* Writes VALUE to /proc/sys/net/FAMILY/conf/IFNAME/KEY, best effort (a host without
 * IPv6 has nothing to disable). */
static void set_conf(const char *family, const char *ifname, const char *key, const char *value)
{
    char path[160];
    snprintf(path, sizeof(path), "/proc/sys/net/%s/conf/%s/%s", family, ifname, key);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, value, strlen(value)) < 0) {
            /* best effort */
        }
        close(fd);
    }
}

/* A private switch's bridge must not become a host interface: no IPv6 link-local, and
 * IPv4 that reaches the bridge device is not the host's: no ARP answers for the host's
 * addresses (arp_ignore 8) and strict reverse-path filtering, which drops every packet
 * (the host has no route through a bridge without addresses). */
static void isolate_from_host(const char *ifname)
{
    set_conf("ipv6", ifname, "disable_ipv6", "1");
    set_conf("ipv4", ifname, "arp_ignore", "8");
    set_conf("ipv4", ifname, "rp_filter", "1");
}

/* Creates SW's bridge and ports; on failure removes what it made. */
static int realize(const struct vswitch *sw, char *err, size_t errlen)
{
    char br[IFNAMSIZ];
    vswitch_bridge_name(sw, br);
    if (sw->type == VSWITCH_EXTERNAL) {
        if (!rtnl_ifindex(sw->nic))
            return fail(-ENODEV, err, errlen, "host NIC '%s' does not exist", sw->nic);
        int m = rtnl_link_master(sw->nic);
        if (m > 0)
            return fail(-EBUSY, err, errlen, "host NIC '%s' is already a port of another bridge or bond",
                        sw->nic);
    }
    /* VLAN filtering lets each port have its own access VLAN; kernels built without
     * CONFIG_BRIDGE_VLAN_FILTERING refuse it, and then ports just have no VLANs. */
    int ret = rtnl_bridge_create(br, true);
    if (ret == -EOPNOTSUPP)
        ret = rtnl_bridge_create(br, false);
    if (ret == -EEXIST)
        return fail(ret, err, errlen, "a network interface named '%s' already exists", br);
    if (ret)
        return fail(ret, err, errlen, "cannot create bridge '%s': %s", br, net_errstr(ret));
    if (sw->type == VSWITCH_PRIVATE)
        isolate_from_host(br);
    if (sw->type == VSWITCH_EXTERNAL) {
        ret = rtnl_link_set_master(sw->nic, br);
        if (!ret)
            ret = rtnl_link_set_up(sw->nic, true);
        if (ret) {
            fail(ret, err, errlen, "cannot add NIC '%s' to bridge '%s': %s", sw->nic, br, net_errstr(ret));
            rtnl_link_delete(br);
            return ret;
        }
    }
    ret = rtnl_link_set_up(br, true);
    if (ret) {
        fail(ret, err, errlen, "cannot bring bridge '%s' up: %s", br, net_errstr(ret));
        rtnl_link_delete(br);
    }
    return ret;
}

int vswitch_carry_vlan(const struct vswitch *sw, uint16_t vid)
{
    return sw->type == VSWITCH_EXTERNAL ? rtnl_bridge_port_add_tagged_vlan(sw->nic, vid) : 0;
}

int vswitch_create(const struct vswitch *sw, char *err, size_t errlen)
{
    int ret = vswitch_name_check(sw->name, err, errlen);
    if (ret)
        return ret;
    if (sw->type == VSWITCH_EXTERNAL && !sw->nic[0])
        return fail(-EINVAL, err, errlen, "an external switch needs --nic HOSTNIC");
    if (sw->type != VSWITCH_EXTERNAL && sw->nic[0])
        return fail(-EINVAL, err, errlen, "--nic is only for external switches");
    char path[4200];
    if (def_path(sw->name, path, sizeof(path)) == 0 && access(path, F_OK) == 0)
        return fail(-EEXIST, err, errlen, "a switch named '%s' already exists", sw->name);
    if ((ret = realize(sw, err, errlen)))
        return ret;
    if ((ret = save_def(sw, err, errlen))) {
        char br[IFNAMSIZ];
        vswitch_bridge_name(sw, br);
        rtnl_link_delete(br);
    }
    return ret;
}

int vswitch_delete(const char *name, char *err, size_t errlen)
{
    struct vswitch sw;
    int ret = vswitch_load(name, &sw, err, errlen);
    if (ret)
        return ret;
    char br[IFNAMSIZ], path[4200];
    vswitch_bridge_name(&sw, br);
    if (rtnl_ifindex(br)) {
        /* deleting the bridge releases its ports, the NIC included */
        ret = rtnl_link_delete(br);
        if (ret && ret != -ENODEV)
            return fail(ret, err, errlen, "cannot delete bridge '%s': %s", br, net_errstr(ret));
    }
    def_path(name, path, sizeof(path));
    if (unlink(path) && errno != ENOENT)
        return fail(-errno, err, errlen, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}

int vswitch_ensure(const char *name, struct vswitch *out, char *err, size_t errlen)
{
    struct vswitch sw;
    int ret = vswitch_load(name, &sw, err, errlen);
    if (ret)
        return ret;
    char br[IFNAMSIZ];
    vswitch_bridge_name(&sw, br);
    if (!rtnl_ifindex(br) && (ret = realize(&sw, err, errlen)))
        return ret;
    if (out)
        *out = sw;
    return 0;
}

int vswitch_restore_all(char *err, size_t errlen)
{
    struct vswitch *v;
    size_t n;
    int ret = vswitch_list(&v, &n, err, errlen), first = ret;
    for (size_t i = 0; !ret && i < n; i++) {
        char e[256];
        int r = vswitch_ensure(v[i].name, NULL, e, sizeof(e));
        if (r && !first) {
            first = r;
            fail(r, err, errlen, "%s", e);
        }
    }
    free(v);
    return first;
}
