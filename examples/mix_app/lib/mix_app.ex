defmodule MixApp do
  @moduledoc "Something to call over distribution: this node, and how it reaches its host's EPMD."

  @doc "`%{node: node, epmd_mode: :server | :client | :none | :fallback}`"
  def info do
    %{node: Node.self(), epmd_mode: :epmd_rs.mode()}
  end
end
