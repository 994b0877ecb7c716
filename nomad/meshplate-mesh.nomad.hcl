# Two services in a Consul Connect mesh with meshplate's HAProxy sidecar in
# place of Envoy. Each group declares its sidecar with `sidecar_task`: the task
# runs `meshplate sidecar`, which finds the proxy Nomad registered for this
# allocation (NOMAD_ALLOC_ID + service name), renders the HAProxy config, leaf
# certificate, CA roots and intentions table into the task dir, and runs HAProxy
# master-worker under it.
#
# Requirements on each client: Consul (Nomad runs `consul connect envoy
# -bootstrap` for every connect-proxy task whatever the driver), CNI plugins for
# bridge networking, and meshplate + haproxy (>= 2.6, with Lua) on the host for
# the raw_exec driver below. Templates can be customised per service by mounting
# a host volume with your copies and passing --template-dir.

variable "consul_http_addr" {
  type        = string
  description = "The Consul agent as seen from inside the allocation's network namespace (not 127.0.0.1)."
  default     = "http://172.17.0.1:8500"
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
            args    = ["sidecar", "--sidecar-for", "api", "--dir", "${NOMAD_TASK_DIR}/mesh", "--log-format", "json"]
          }

          # Nomad does not set CONSUL_HTTP_ADDR for connect-proxy tasks.
          env {
            CONSUL_HTTP_ADDR = var.consul_http_addr
          }

          resources {
            cpu    = 200
            memory = 96
          }

          shutdown_delay = "5s"
          kill_timeout   = "15s"
          kill_signal    = "SIGTERM"
        }
      }
    }

    task "api" {
      driver = "raw_exec"

      config {
        command = "python3"
        args    = ["-m", "http.server", "9001", "--bind", "127.0.0.1"]
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
      # outside the mesh; web's calls to api go through the sidecar.
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
            args    = ["sidecar", "--sidecar-for", "web", "--dir", "${NOMAD_TASK_DIR}/mesh", "--log-format", "json"]
          }

          env {
            CONSUL_HTTP_ADDR = var.consul_http_addr
          }

          resources {
            cpu    = 200
            memory = 96
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
        command = "python3"
        args    = ["-m", "http.server", "9002", "--bind", "127.0.0.1"]
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
