# Two services in a Consul Connect mesh with meshplate's HAProxy sidecar in
# place of Envoy, on the raw_exec driver. Each group declares its sidecar with
# `sidecar_task`: the task runs `meshplate sidecar`, which finds the proxy
# Nomad registered for this allocation (NOMAD_ALLOC_ID + service name) and the
# Service Identity token (${NOMAD_SECRETS_DIR}/si_token, with Consul ACLs),
# renders the HAProxy config, leaf certificate, CA roots and intentions table
# into the task dir, and runs HAProxy master-worker under it.
#
# What each client needs (checked by test/e2e/nomad.test.ts, which runs this
# file as shipped on a real Nomad v1.6.1 dev agent):
# - A Consul agent whose HTTP API listens on the client's own network address
#   (`client_addr = "127.0.0.1 {{ GetPrivateIP }}"` or the address itself), on
#   port 8500 unless you set var.consul_http_port. The allocation's network
#   namespace has its own loopback, so 127.0.0.1 is not the agent, and Nomad
#   gives sidecar tasks no Consul HTTP socket (only alloc/tmp/consul_grpc.sock).
# - `consul` on the Nomad agent's PATH: Nomad runs `consul connect envoy
#   -bootstrap` for every connect-proxy task whatever the driver, and fails the
#   allocation without it.
# - `meshplate` and `haproxy` (>= 2.6, with Lua) on the PATH, the raw_exec
#   driver enabled, and CNI plugins for bridge networking (`cni_path`).
#
# Sidecar tasks cannot have `template`, `artifact` or `volume_mount` blocks, so
# a service customises its sidecar from its app task: the app's own `template`
# block writes ${NOMAD_ALLOC_DIR}/meshplate/haproxy.cfg.njk, which extends the
# shipped template and overrides one block, and the sidecar (started with
# --override-dir ${NOMAD_ALLOC_DIR}/meshplate) picks it up. api below does that.

variable "consul_http_port" {
  type        = number
  description = "Port of the Consul agent's HTTP API on the client's own network address."
  default     = 8500
}

job "meshplate-mesh" {
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
          driver = "raw_exec"

          config {
            command = "meshplate"
            args = [
              "sidecar", "--sidecar-for", "api", "--dir", "${NOMAD_TASK_DIR}/mesh",
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
      driver = "raw_exec"

      # A stand-in app (node is on the client for meshplate anyway). Mind your app's listen
      # backlog: Python's http.server queues only 5 connections, and the SYNs it drops under
      # load come back 1 s later (a p99 of about 1 s through any proxy).
      config {
        command = "node"
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
          driver = "raw_exec"

          config {
            command = "meshplate"
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
            memory = 128
          }

          shutdown_delay = "5s"
          kill_timeout   = "15s"
          kill_signal    = "SIGTERM"
        }
      }
    }

    task "web" {
      driver = "raw_exec"

      # The app reaches api through the sidecar's upstream listener.
      env {
        API_URL = "http://${NOMAD_UPSTREAM_ADDR_api}"
      }

      config {
        command = "node"
        args    = ["-e", "require('node:http').createServer((req, res) => res.end('web\\n')).listen(9002, '0.0.0.0')"]
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
