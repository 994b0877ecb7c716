# The same mesh as meshplate-mesh.nomad.hcl on the docker driver, which is Nomad's default
# for a sidecar_task, with meshplate's container image (scripts/image/Dockerfile) in place of
# Envoy's. Each group's sidecar_task runs `meshplate sidecar --sidecar-for <service>` in that
# image; meshplate finds the proxy Nomad registered for this allocation (NOMAD_ALLOC_ID + the
# service name), renders the HAProxy config, leaf certificate, CA roots and intentions table
# into the task dir, and runs HAProxy master-worker under it.
#
# NOT RUN by any test: the machine meshplate is developed on has no Docker engine (its image
# is built and run with podman, test/e2e/image.test.ts). `nomad job validate` checks this
# file (test/integration/nomad-job.test.ts); the settings below were read from Nomad
# v1.6.1's docker driver, not seen working.
#
# What each client needs, beyond what meshplate-mesh.nomad.hcl lists (Consul's HTTP API on
# the client's own address, `consul` on the Nomad agent's PATH, CNI plugins):
# - Docker, and the image under the name below on every client:
#   `docker build -f scripts/image/Dockerfile -t meshplate:0.1.0 .` in a checkout (or push it
#   to your registry and name it so). Nomad's docker driver uses a local image as it is,
#   without pulling, unless the tag is "latest" or force_pull is set.
# - Nothing about the network: in a group with `network { mode = "bridge" }` the docker driver
#   joins every task of the group to the allocation's network namespace by itself
#   (network_mode = "container:<the group's pause container>"). Do not set network_mode:
#   "bridge" or "host" would take the sidecar out of the group's namespace, away from its app
#   and its upstream listeners.
# - The image runs meshplate and HAProxy as uid 10001, which can write the task dir
#   (/local) and ${NOMAD_ALLOC_DIR} (Nomad makes both 0777). With Consul ACLs, Nomad writes
#   the sidecar's token to ${NOMAD_SECRETS_DIR}/si_token as root with mode 0440, which uid
#   10001 cannot read: add `user = "root"` to sidecar_task then.
# - The apps below run in the same image (it has Node) so the example needs no other image.

variable "consul_http_port" {
  type        = number
  description = "Port of the Consul agent's HTTP API on the client's own network address."
  default     = 8500
}

variable "image" {
  type        = string
  description = "meshplate's container image, built from scripts/image/Dockerfile."
  default     = "meshplate:0.1.0"
}

job "meshplate-mesh-docker" {
  datacenters = ["dc1"]

  group "api" {
    network {
      mode = "bridge"
    }

    service {
      name = "api"
      port = "9001"

      connect {
        sidecar_service {
          proxy {
            config {
              protocol = "http"
            }
          }
        }

        sidecar_task {
          name   = "meshplate"
          driver = "docker"

          # image and args replace Envoy's (Nomad merges this config over its own default).
          config {
            image = var.image
            args = [
              "sidecar", "--sidecar-for", "api", "--dir", "${NOMAD_TASK_DIR}/mesh",
              "--override-dir", "${NOMAD_ALLOC_DIR}/meshplate", "--log-format", "json",
            ]
          }

          # Nomad does not set CONSUL_HTTP_ADDR for connect-proxy tasks: the client's own address.
          env {
            CONSUL_HTTP_ADDR = "http://${attr.unique.network.ip-address}:${var.consul_http_port}"
          }

          # 192 MB, not the 128 of the other jobs: the memory cgroup charges the page cache of the
          # image's own Node binary and libraries to the container that reads them first. Measured
          # (bench/RESULTS.md, "Container image"): a new container on a fresh page cache settles
          # near 172 MB (about 57-71 MB of it the processes' own memory, the rest reclaimable page
          # cache) and stayed under 192 MB under load; held to 128 MB it lost no request, but sat
          # at its limit throughout.
          resources {
            cpu    = 200
            memory = 192
          }

          # SIGTERM reaches meshplate through the image's tini; it stops HAProxy and exits 0.
          shutdown_delay = "5s"
          kill_timeout   = "15s"
          kill_signal    = "SIGTERM"
        }
      }
    }

    task "api" {
      driver = "docker"

      # A stand-in app, run by the Node in meshplate's image. With 64 MB it answers but runs at
      # its limit on a fresh page cache (measured with podman: Node's binary pages are reclaimed
      # as it starts); your app brings its own image and reservation.
      config {
        image      = var.image
        entrypoint = ["node"]
        args       = ["-e", "require('node:http').createServer((req, res) => res.end('api\\n')).listen(9001, '127.0.0.1')"]
      }

      # api's own sidecar settings: this extends the shipped haproxy.cfg.njk and adds a
      # response header on the inbound listener. [[ ]] delimiters keep Nomad's Go templating
      # away from Nunjucks' {{ }} and {% %}.
      template {
        destination     = "${NOMAD_ALLOC_DIR}/meshplate/haproxy.cfg.njk"
        left_delimiter  = "[["
        right_delimiter = "]]"
        change_mode     = "noop"
        data            = <<-EOT
          {% extends "haproxy/haproxy.cfg.njk" %}
          {% block inbound_extra %}
              http-response set-header X-Mesh-Override api
          {% endblock %}
        EOT
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }

  group "web" {
    network {
      mode = "bridge"

      # web is the edge: this static port lets you curl the app from the host. That hop is
      # outside the mesh (so the app listens on the namespace's own interface, not only
      # 127.0.0.1); web's calls to api go through the sidecar.
      port "http" {
        static = 9002
        to     = 9002
      }
    }

    service {
      name = "web"
      port = "9002"

      connect {
        sidecar_service {
          proxy {
            config {
              protocol = "http"
            }

            upstreams {
              destination_name = "api"
              local_bind_port  = 8080
            }
          }
        }

        sidecar_task {
          name   = "meshplate"
          driver = "docker"

          config {
            image = var.image
            args = [
              "sidecar", "--sidecar-for", "web", "--dir", "${NOMAD_TASK_DIR}/mesh",
              "--override-dir", "${NOMAD_ALLOC_DIR}/meshplate", "--log-format", "json",
            ]
          }

          env {
            CONSUL_HTTP_ADDR = "http://${attr.unique.network.ip-address}:${var.consul_http_port}"
          }

          resources {
            cpu    = 200
            memory = 192
          }

          shutdown_delay = "5s"
          kill_timeout   = "15s"
          kill_signal    = "SIGTERM"
        }
      }
    }

    task "web" {
      driver = "docker"

      # The app reaches api through the sidecar's upstream listener.
      env {
        API_URL = "http://${NOMAD_UPSTREAM_ADDR_api}"
      }

      config {
        image      = var.image
        entrypoint = ["node"]
        args       = ["-e", "require('node:http').createServer((req, res) => res.end('web\\n')).listen(9002, '0.0.0.0')"]
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
