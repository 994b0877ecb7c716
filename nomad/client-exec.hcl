# The client settings the exec example (meshplate-mesh-exec.nomad.hcl) needs,
# to merge into your Nomad client's config. exec tasks run in a chroot made
# from chroot_env; setting it replaces Nomad's default list, so the defaults
# are repeated here, plus meshplate's install folder. node and haproxy come
# from /usr (Debian's packages, or wherever your install puts them).
client {
  chroot_env {
    "/bin"           = "/bin"
    "/etc"           = "/etc"
    "/lib"           = "/lib"
    "/lib32"         = "/lib32"
    "/lib64"         = "/lib64"
    "/run/resolvconf" = "/run/resolvconf"
    "/sbin"          = "/sbin"
    "/usr"           = "/usr"
    "/opt/meshplate" = "/opt/meshplate"
  }
}
