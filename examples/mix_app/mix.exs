defmodule MixApp.MixProject do
  use Mix.Project

  def project do
    [
      app: :mix_app,
      version: "0.1.0",
      elixir: "~> 1.14",
      deps: deps()
    ]
  end

  def application do
    [extra_applications: [:logger]]
  end

  # epmd_rs is a rebar3 project: Mix builds it with rebar3 (MIX_REBAR3 names
  # the rebar3 to use; without it Mix wants to download one). Its compile hook
  # builds the NIF with cargo. Users write a git (or, later, hex) dependency:
  #   {:epmd_rs, git: "https://.../epmd_rs.git", branch: "main", manager: :rebar3}
  # Here it is this repository, by path: offline, the working tree, and the
  # repository's cargo target/ directory (the hook runs in the repository root).
  defp deps do
    [{:epmd_rs, path: "../..", manager: :rebar3}]
  end
end
