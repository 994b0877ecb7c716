# The same mesh as meshplate-mesh.nomad.hcl on the exec driver: every task
# is isolated in its own chroot and its memory limit is enforced (cgroups). Each group declares its sidecar with
# `sidecar_task`: the task runs `meshplate sidecar`, which finds the proxy
# Nomad registered for this allocation (NOMAD_ALLOC_ID + service name) and the
# Service Identity token (${NOMAD_SECRETS_DIR}/si_token, with Consul ACLs),
# renders the HAProxy config, leaf certificate, CA roots and intentions table
# into the task dir, and runs HAProxy master-worker under it.
#
# What each client needs, beyond what meshplate-mesh.nomad.hcl lists:
# - meshplate installed at /opt/meshplate (dist/, templates/, lua/ and its
#   production node_modules) and the client's chroot_env from
#   client-exec.hcl (next to this file), which puts it, node and haproxy in
#   every exec task's chroot. Building a chroot takes a few seconds per task.
# - Memory: measured by test/e2e/nomad.test.ts under load and instance
#   churn, one sidecar (node + HAProxy master and worker) peaked at about
#   62 MB with an upstream of 100 instances and reached 128 MB with 1,000
#   (HAProxy's share grows with each upstream instance). 64 MB holds up to about 100
#   instances with nothing to spare; the table is in docs/nomad.md
#   ("What a client needs").
#
# The per-service override works as in the raw_exec job: the app task's
# template writes ${NOMAD_ALLOC_DIR}/meshplate/haproxy.cfg.njk, which every
# task of the group can read.

variable "consul_http_port" {
  type        = number
  description = "Port of the Consul agent's HTTP API on the client's own network address."
  default     = 8500
}

job "meshplate-mesh-exec" {
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
          driver = "exec"

          config {
            command = "/usr/bin/node"
            args = [
              # --max-semi-space-size=1: what dist/cli.js's shebang gives `meshplate` (docs/performance.md: "Footprint").
              "--max-semi-space-size=1", "/opt/meshplate/dist/cli.js", "sidecar", "--sidecar-for", "api", "--dir", "${NOMAD_TASK_DIR}/mesh",
              "--override-dir", "${NOMAD_ALLOC_DIR}/meshplate", "--log-format", "json",
            ]
          }

          # Nomad does not set CONSUL_HTTP_ADDR for connect-proxy tasks: the client's own address.
          env {
            CONSUL_HTTP_ADDR = "http://${attr.unique.network.ip-address}:${var.consul_http_port}"
          }

          resources {
            cpu    = 200
            memory = 128
          }

          shutdown_delay = "5s"
          kill_timeout   = "15s"
          kill_signal    = "SIGTERM"
        }
      }
    }

    task "api" {
      driver = "exec"

      # A stand-in app, as in meshplate-mesh.nomad.hcl.
      config {
        command = "/usr/bin/node"
        args    = ["-e", "require('node:http').createServer((req, res) => res.end('api\\n')).listen(9001, '127.0.0.1')"]
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
          driver = "exec"

          config {
            command = "/usr/bin/node"
            args = [
              # --max-semi-space-size=1: what dist/cli.js's shebang gives `meshplate` (docs/performance.md: "Footprint").
              "--max-semi-space-size=1", "/opt/meshplate/dist/cli.js", "sidecar", "--sidecar-for", "web", "--dir", "${NOMAD_TASK_DIR}/mesh",
              "--override-dir", "${NOMAD_ALLOC_DIR}/meshplate", "--log-format", "json",
            ]
          }

          env {
            CONSUL_HTTP_ADDR = "http://${attr.unique.network.ip-address}:${var.consul_http_port}"
          }

          resources {
            cpu    = 200
            memory = 128
          }

          shutdown_delay = "5s"
          kill_timeout   = "15s"
          kill_signal    = "SIGTERM"
        }
      }
    }

    task "web" {
      driver = "exec"

      # The app reaches api through the sidecar's upstream listener.
      env {
        API_URL = "http://${NOMAD_UPSTREAM_ADDR_api}"
      }

      config {
        command = "/usr/bin/node"
        args    = ["-e", "require('node:http').createServer((req, res) => res.end('web\\n')).listen(9002, '0.0.0.0')"]
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
